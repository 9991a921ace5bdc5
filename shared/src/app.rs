//! The application a function runs: what a handler needs, built once per cold start (the
//! configuration, the keys, the store, the mailer), and the event loop that hands every request
//! to the handler with it.

use std::convert::Infallible;
use std::env;
use std::future::Future;
use std::sync::Arc;

use crate::clock::now_unix;
use crate::config::{Config, ConfigError};
use crate::http::ApiError;
use crate::{aws, logging, mail};

/// Every binary that links this crate allocates with mimalloc: a request makes a few hundred
/// short-lived allocations (the SDK's headers and config layers, JSON), and glibc's malloc
/// spent ~9% of a cheap request's instructions on them. Built without transparent huge pages,
/// which cost ~1 ms and 6 MiB at each cold start (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::config::EmailSettings;
use crate::mail::delivery::Mailroom;
use crate::mail::{Mailer, NoMailer};
use crate::store::{DynamoStore, EmailStore};
use crate::tokens::links::EmailKeys;
use crate::tokens::source::{KeyRefresh, KeySource, StoredKeys};
use crate::tokens::{KeyUse, TokenKeys};
use lambda_http::{Body, Request, Response, service_fn};
use secrecy::ExposeSecret;

/// Everything a handler needs, built once per cold start and borrowed by every request.
pub struct App<S> {
    pub config: Config,
    pub tokens: TokenKeys,
    pub store: S,
    /// Where mail goes: [`NoMailer`] but in the functions that send mail.
    pub mailer: Box<dyn Mailer>,
    /// Reads the signing keys again while warm (none in tests: their keys never change).
    pub key_refresh: Option<KeyRefresh>,
    /// The AWS configuration the clients were built from, for a client made later (the social
    /// functions' Secrets Manager read); none in tests.
    pub sdk: Option<aws_config::SdkConfig>,
}

impl<S> App<S> {
    pub fn new(config: Config, store: S) -> Self {
        let tokens = config.token_keys();
        App {
            config,
            tokens,
            store,
            mailer: Box::new(NoMailer),
            key_refresh: None,
            sdk: None,
        }
    }

    /// The MAC keys of the mailed links (password reset, address confirmation), derived from
    /// the signing keys held now: they rotate, and are re-read while warm, with them. Only a
    /// function that holds the private key has them (a verify-only one answers 500).
    pub fn email_keys(&self) -> Result<Arc<EmailKeys>, ApiError> {
        self.tokens.ring().email.clone().ok_or_else(|| {
            tracing::error!("a verify-only function was asked for the mailed links' keys");
            ApiError::Internal
        })
    }

    /// The same application, sending its mail through `mailer`.
    pub fn with_mailer(mut self, mailer: Box<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Before a request: the keys read again if they are due (`JWT_KEY_REFRESH_SECONDS`).
    pub async fn refresh_keys(&self) {
        if let Some(refresh) = &self.key_refresh {
            refresh.refresh_if_due(&self.tokens, now_unix()).await;
        }
    }
}

impl App<DynamoStore> {
    /// The production wiring: configuration from the environment, the keys `key_use` needs from
    /// where the environment says (`key_source`), one AWS configuration for every client, and
    /// the mailer `make_mailer` builds (the one `EMAIL_BACKEND` chooses, [`mail::mailer_from`],
    /// in the functions that send mail).
    pub async fn from_env(key_use: KeyUse, make_mailer: MailerFactory) -> Result<Self, ConfigError> {
        let sdk = aws::sdk_config().await;
        let source = KeySource::from_env(&sdk, key_use)?;
        let read_at = now_unix();
        let stored = source.read().await?;
        // A verifier of ES256 tokens is given the public keys alone, whatever else the
        // environment holds.
        let public_only = source.is_public_keys()
            || matches!(source, KeySource::Environment)
                && key_use == KeyUse::Verify
                && env::var("JWT_ALGORITHM").is_ok_and(|name| name.trim() == "ES256");
        let config = Config::from_lookup(|name| match (name, &stored) {
            ("JWT_SIGNING_KEY" | "JWT_PREVIOUS_SIGNING_KEY", _) if public_only => None,
            ("JWT_SIGNING_KEY", Some(StoredKeys::Private(keys))) => Some(keys.current.expose_secret().to_owned()),
            ("JWT_PREVIOUS_SIGNING_KEY", Some(StoredKeys::Private(keys))) => {
                keys.previous.as_ref().map(|key| key.expose_secret().to_owned())
            }
            ("JWT_PUBLIC_KEYS", Some(StoredKeys::Public(jwk_set))) => Some(jwk_set.clone()),
            _ => env::var(name).ok(),
        })?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name.clone());
        let mailer = make_mailer(&config.email, &sdk);
        let refresh = KeyRefresh::new(source, config.jwt_algorithm, config.key_refresh_interval, read_at);
        let mut app = App::new(config, store).with_mailer(mailer);
        app.key_refresh = Some(refresh);
        app.sdk = Some(sdk);
        Ok(app)
    }
}

impl<S: EmailStore> Mailroom for App<S> {
    type Store = S;

    fn mail_settings(&self) -> &EmailSettings {
        &self.config.email
    }

    fn mailer(&self) -> &dyn Mailer {
        self.mailer.as_ref()
    }

    fn mail_store(&self) -> &S {
        &self.store
    }

    fn link_keys(&self) -> Result<Arc<EmailKeys>, ApiError> {
        self.email_keys()
    }
}

/// How a function gets its mailer at cold start. Only the functions that send mail pass
/// [`mail::mailer_from`]; the others pass [`no_mailer`], so their binaries link no SES client.
pub type MailerFactory = fn(&EmailSettings, &aws_config::SdkConfig) -> Box<dyn Mailer>;

/// The mailer of a function that sends no mail: every send is refused.
pub fn no_mailer(_: &EmailSettings, _: &aws_config::SdkConfig) -> Box<dyn Mailer> {
    Box::new(NoMailer)
}

/// A function's whole life: logging, configuration, the keys it uses as `key_use` says and the
/// DynamoDB client built once at cold start (a bad configuration stops the start), then every
/// event handed to `handler`.
pub async fn run_function<F, Fut>(key_use: KeyUse, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    run(handler, key_use, no_mailer).await
}

/// [`run_function`] for a function that sends mail (its mailer built at cold start too); it makes
/// the mailed links, so it holds the signing keys.
pub async fn run_mailing_function<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    run(handler, KeyUse::Sign, mail::mailer_from).await
}

async fn run<F, Fut>(handler: F, key_use: KeyUse, make_mailer: MailerFactory) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_logging();
    let app = App::from_env(key_use, make_mailer)
        .await
        .inspect_err(|error| tracing::error!(%error, "refusing to start"))?;
    // The application lives as long as the process: leaking it lends it to every request.
    let app: &'static App<DynamoStore> = Box::leak(Box::new(app));
    let handler = &handler;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Infallible>(
            logging::in_request_span(request, |request| async move {
                app.refresh_keys().await;
                handler(app, request).await
            })
            .await,
        )
    }))
    .await
}

/// Logs as Lambda wants them, never with a secret (see [`logging`]).
pub fn init_logging() {
    logging::init();
}
