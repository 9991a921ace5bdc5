//! What the store suites share: a fresh store of either kind (DynamoDB over a new table on the
//! local server, logging its requests for the dynalite check; or memory), a user who joined,
//! and the test-only writes an admin would make.

#![allow(dead_code)] // each test binary uses its own share of these

use std::io::Write;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use shared::account::new_session;
use shared::config::Config;
use shared::ids::random_id;
use shared::store::{
    DynamoStore, MemoryStore, NewSession, NewUser, NextRefresh, Registration, SessionOrigin, Store, User,
};
use shared::tokens::TokenKeys;

/// A store the contract runs against, and the writes the tests make behind the store's back.
pub trait Harness: Store + Sized + 'static {
    /// A store with nothing in it.
    async fn fresh() -> Self;
    /// Sets the user's `is_active`, as an admin would.
    async fn set_active(&self, user_id: u64, active: bool);
    /// Removes the user's item alone (no claim, no session): a deletion as another writer left it.
    async fn delete_user_item(&self, user_id: u64);
}

impl Harness for MemoryStore {
    async fn fresh() -> Self {
        MemoryStore::new()
    }

    async fn set_active(&self, user_id: u64, active: bool) {
        MemoryStore::set_active(self, user_id, active);
    }

    async fn delete_user_item(&self, user_id: u64) {
        self.delete_user(user_id);
    }
}

impl Harness for DynamoStore {
    async fn fresh() -> Self {
        fresh_store().await
    }

    async fn set_active(&self, user_id: u64, active: bool) {
        self.client()
            .update_item()
            .table_name(self.table())
            .key("PK", AttributeValue::S(format!("USER#{user_id}")))
            .key("SK", AttributeValue::S("USER".to_owned()))
            .update_expression("SET is_active = :active")
            .expression_attribute_values(":active", AttributeValue::Bool(active))
            .send()
            .await
            .expect("is_active set");
    }

    async fn delete_user_item(&self, user_id: u64) {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("PK", AttributeValue::S(format!("USER#{user_id}")))
            .key("SK", AttributeValue::S("USER".to_owned()))
            .send()
            .await
            .expect("user item deleted");
    }
}

/// A store over a fresh table on the local server. Refuses to run against anything else.
pub async fn fresh_store() -> DynamoStore {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("store tests need a local DynamoDB: run them with `make test`");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "store tests only run against a local server"
    );
    let table = format!("store-test-{}", random_id());
    DynamoStore::connect(table.clone())
        .await
        .create_table_if_missing()
        .await
        .expect("table created");
    let sdk = shared::aws::sdk_config().await;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk);
    if let Ok(path) = std::env::var("DYNAMODB_REQUEST_LOG") {
        config = config.interceptor(RequestLog { path });
    }
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config.build()), table)
}

/// Appends every request the store sends (operation and JSON body) to a file, one per line:
/// `tools/check_expressions.py` replays them against dynalite, stricter than moto about
/// expressions, so that a malformed one fails `make test` rather than production.
#[derive(Debug)]
struct RequestLog {
    path: String,
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request.headers().get("x-amz-target").unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(request.body().bytes().unwrap_or_default())?;
        let line = serde_json::json!({"operation": operation, "body": body}).to_string();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        // One write per line: the tests run in parallel.
        file.write_all(format!("{line}\n").as_bytes())?;
        Ok(())
    }
}

pub fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        password_hash: "$argon2id$stand-in".to_owned(),
        first_name: "Ada".to_owned(),
        last_name: String::new(),
        gender: "female".to_owned(),
        date_of_birth: Some("1990-02-03".to_owned()),
        is_staff: false,
        is_superuser: false,
        joined_at: "2026-11-26T12:00:00Z".to_owned(),
    }
}

pub fn tokens_config() -> Config {
    Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| "store-test-signing-key-0123456789abc".to_owned()))
        .expect("config")
}

pub fn tokens() -> TokenKeys {
    tokens_config().token_keys()
}

pub fn a_session() -> NewSession {
    new_session(&tokens(), shared::now_unix(), SessionOrigin::default())
}

pub async fn joined<S: Store>(store: &S, email: &str) -> (User, NewSession) {
    let session = a_session();
    match store
        .create_user(new_user(email), Some(session.clone()), &[])
        .await
        .expect("create")
    {
        Registration::Created(user) => (user, session),
        Registration::EmailTaken => panic!("{email} was already taken"),
    }
}

pub fn next_refresh() -> NextRefresh {
    let now = shared::now_unix();
    NextRefresh {
        jti: random_id(),
        issued_at: now,
        session_expires_at: now + 1000,
    }
}

/// Each test of a store contract, once per store (`#[macro_use] mod common;`).
#[allow(unused_macros)] // the suites that run no contract
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<shared::store::MemoryStore>().await
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<shared::store::DynamoStore>().await
                }
            )*
        }
    };
}
