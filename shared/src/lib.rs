//! What the six account functions share. Each function's `lib.rs` holds its handler; this
//! crate holds everything they have in common, so each rule lives in one place.

pub mod account;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod input;
pub mod password;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;

use std::convert::Infallible;
use std::future::Future;

use config::{Config, ConfigError};
use lambda_http::{Body, Request, Response, service_fn};
use store::DynamoStore;
use token::TokenKeys;

/// Everything a handler needs, built once per cold start and borrowed by every request.
pub struct App<S> {
    pub config: Config,
    pub tokens: TokenKeys,
    pub store: S,
}

impl<S> App<S> {
    pub fn new(config: Config, store: S) -> Self {
        let tokens = TokenKeys::new(&config);
        App { config, tokens, store }
    }
}

impl App<DynamoStore> {
    /// The production wiring: configuration from the environment, the DynamoDB client.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let store = DynamoStore::connect(config.table_name.clone()).await;
        Ok(App::new(config, store))
    }
}

/// A function's whole life: logging, configuration, keys and the DynamoDB client built once at
/// cold start (a bad configuration stops the start), then every event handed to `handler`.
pub async fn run_function<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App<DynamoStore>, Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_logging();
    let app = App::from_env()
        .await
        .inspect_err(|error| tracing::error!(%error, "refusing to start"))?;
    // The application lives as long as the process: leaking it lends it to every request.
    let app: &'static App<DynamoStore> = Box::leak(Box::new(app));
    let handler = &handler;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Infallible>(handler(app, request).await)
    }))
    .await
}

/// Logs as Lambda wants them: JSON when the function's `LoggingConfig` says so, `RUST_LOG`
/// or `AWS_LAMBDA_LOG_LEVEL` for the level. Request data is never logged.
pub fn init_logging() {
    lambda_http::tracing::init_default_subscriber();
}

/// The current time in Unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
