//! What the account functions share. Each function's `lib.rs` holds its handler; this
//! crate holds everything they have in common, so each rule lives in one place.

pub mod account;
pub mod auth;
pub mod aws;
pub mod config;
pub mod cors;
pub mod device;
pub mod email_token;
pub mod error;
pub mod hs256;
pub mod http;
pub mod input;
pub mod logging;
pub mod mail;
pub mod mailing;
pub mod password;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod token;

use std::convert::Infallible;
use std::env;
use std::future::Future;

use config::{Config, ConfigError};

/// Every binary that links this crate allocates with mimalloc: a request makes a few hundred
/// short-lived allocations (the SDK's headers and config layers, JSON), and glibc's malloc
/// spent ~9% of a cheap request's instructions on them. Built without transparent huge pages,
/// which cost ~1 ms and 6 MiB at each cold start (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use email_token::EmailKeys;
use lambda_http::{Body, Request, Response, service_fn};
use mail::{Mailer, NoMailer};
use store::DynamoStore;
use token::TokenKeys;

/// Everything a handler needs, built once per cold start and borrowed by every request.
pub struct App<S> {
    pub config: Config,
    pub tokens: TokenKeys,
    /// The MAC keys of the mailed links (password reset, address confirmation).
    pub email_keys: EmailKeys,
    pub store: S,
    /// Where mail goes: [`NoMailer`] but in the functions that send mail.
    pub mailer: Box<dyn Mailer>,
}

impl<S> App<S> {
    pub fn new(config: Config, store: S) -> Self {
        let tokens = TokenKeys::new(&config);
        let email_keys = EmailKeys::new(&config);
        App {
            config,
            tokens,
            email_keys,
            store,
            mailer: Box::new(NoMailer),
        }
    }

    /// The same application, sending its mail through `mailer`.
    pub fn with_mailer(mut self, mailer: Box<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }
}

impl App<DynamoStore> {
    /// The production wiring: configuration from the environment, the signing key from Secrets
    /// Manager when `JWT_SIGNING_KEY_SECRET_ARN` names it (and `JWT_SIGNING_KEY` is not set),
    /// one AWS configuration for both clients.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_sending(false).await
    }

    /// [`App::from_env`] with the mailer `EMAIL_BACKEND` chooses (SES or the local outbox):
    /// only the functions that send mail build one.
    pub async fn from_env_sending(mail: bool) -> Result<Self, ConfigError> {
        let sdk = aws::sdk_config().await;
        let secret_key = match (env::var("JWT_SIGNING_KEY"), env::var("JWT_SIGNING_KEY_SECRET_ARN")) {
            (Err(_), Ok(arn)) => Some(read_secret(&sdk, &arn).await?),
            _ => None,
        };
        let config = Config::from_lookup(|name| match name {
            "JWT_SIGNING_KEY" if secret_key.is_some() => secret_key.clone(),
            _ => env::var(name).ok(),
        })?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name.clone());
        let mailer = match mail {
            true => mail::mailer_from(&config.email, &sdk),
            false => Box::new(NoMailer),
        };
        Ok(App::new(config, store).with_mailer(mailer))
    }
}

async fn read_secret(sdk: &aws_config::SdkConfig, arn: &str) -> Result<String, ConfigError> {
    let output = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|error| ConfigError::Secret(aws_sdk_secretsmanager::error::DisplayErrorContext(&error).to_string()))?;
    output
        .secret_string
        .ok_or_else(|| ConfigError::Secret("the secret has no string value".to_owned()))
}

/// A function's whole life: logging, configuration, keys and the DynamoDB client built once at
/// cold start (a bad configuration stops the start), then every event handed to `handler`.
pub async fn run_function<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    run(handler, false).await
}

/// [`run_function`] for a function that sends mail (its mailer built at cold start too).
pub async fn run_mailing_function<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    run(handler, true).await
}

async fn run<F, Fut>(handler: F, mail: bool) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_logging();
    let app = App::from_env_sending(mail)
        .await
        .inspect_err(|error| tracing::error!(%error, "refusing to start"))?;
    // The application lives as long as the process: leaking it lends it to every request.
    let app: &'static App<DynamoStore> = Box::leak(Box::new(app));
    let handler = &handler;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Infallible>(logging::in_request_span(request, |request| handler(app, request)).await)
    }))
    .await
}

/// Logs as Lambda wants them, never with a secret (see [`logging`]).
pub fn init_logging() {
    logging::init();
}

/// The current time in Unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
