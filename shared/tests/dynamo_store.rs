//! The DynamoDB store against a real DynamoDB-protocol server (moto, started by `make test`).
//! Each test works in a table of its own.

use std::io::Write;
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;

use secrecy::SecretString;
use shared::account::{create_superuser, new_session};
use shared::config::Config;
use shared::store::{
    DynamoStore, NewSession, NewUser, Registration, SessionProblem, SessionStore, StoreError, TableDefinition, User,
    UserStore,
};
use shared::token::{TokenKeys, random_id};

/// A store over a fresh table on the local server. Refuses to run against anything else.
async fn fresh_store() -> DynamoStore {
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

fn new_user(email: &str) -> NewUser {
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

fn tokens() -> TokenKeys {
    let config = Config::from_lookup(|name| {
        (name == "JWT_SIGNING_KEY").then(|| "store-test-signing-key-0123456789abc".to_owned())
    })
    .expect("config");
    TokenKeys::new(&config)
}

fn a_session() -> NewSession {
    new_session(&tokens(), shared::now_unix())
}

async fn joined(store: &DynamoStore, email: &str) -> (User, NewSession) {
    let session = a_session();
    match store
        .create_user(new_user(email), Some(session.clone()))
        .await
        .expect("create")
    {
        Registration::Created(user) => (user, session),
        Registration::EmailTaken => panic!("{email} was already taken"),
    }
}

#[tokio::test]
async fn users_are_created_found_and_unique_by_email() {
    let store = fresh_store().await;
    let (first, _) = joined(&store, "ada@example.com").await;
    let (second, _) = joined(&store, "bob@example.com").await;
    assert!(second.id > first.id, "ids grow");
    assert!(store.email_registered("ada@example.com").await.unwrap());
    assert!(!store.email_registered("nobody@example.com").await.unwrap());

    let found = store.find_by_email("ada@example.com").await.unwrap().expect("found");
    assert_eq!(found, first);
    assert_eq!(found.gender, "female");
    assert_eq!(found.date_of_birth.as_deref(), Some("1990-02-03"));
    assert_eq!(
        found.last_login.as_deref(),
        Some("2026-11-26T12:00:00Z"),
        "join logs in"
    );
    assert!(store.find_by_email("nobody@example.com").await.unwrap().is_none());

    let again = store
        .create_user(new_user("ada@example.com"), Some(a_session()))
        .await
        .unwrap();
    assert!(matches!(again, Registration::EmailTaken));
}

#[tokio::test]
async fn racing_joins_with_one_email_have_exactly_one_winner() {
    let store = Arc::new(fresh_store().await);
    let joins = (0..12).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.create_user(new_user("race@example.com"), Some(a_session())).await })
    });
    let outcomes = futures::future::join_all(joins).await;
    let created = outcomes
        .into_iter()
        .map(|joined| joined.expect("task").expect("store answered"))
        .filter(|outcome| matches!(outcome, Registration::Created(_)))
        .count();
    assert_eq!(created, 1);
    assert!(store.find_by_email("race@example.com").await.unwrap().is_some());
}

#[tokio::test]
async fn a_session_is_read_with_its_user_in_one_round_trip() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let before = store.round_trips();
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(store.round_trips() - before, 1);
    let (live_user, live_session) = view.live(shared::now_unix()).expect("live");
    assert_eq!(live_user.id, user.id);
    assert_eq!(live_session.refresh_jti, session.refresh_jti);

    let missing = store.load(user.id, &random_id()).await.unwrap();
    assert_eq!(missing.live(shared::now_unix()).unwrap_err(), SessionProblem::Revoked);
}

#[tokio::test]
async fn login_starts_a_second_session_and_records_the_time() {
    let store = fresh_store().await;
    let (user, _) = joined(&store, "ada@example.com").await;
    let second = a_session();
    store
        .start_session(&user, second.clone(), "2026-11-27T08:00:00Z")
        .await
        .unwrap();
    let view = store.load(user.id, &second.id).await.unwrap();
    let (live_user, _) = view.live(shared::now_unix()).expect("live");
    assert_eq!(live_user.last_login.as_deref(), Some("2026-11-27T08:00:00Z"));
}

#[tokio::test]
async fn a_login_does_not_start_a_session_after_a_password_change_or_deactivation() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    assert!(
        store
            .change_password(user.id, &session.id, user.session_epoch, "new-hash")
            .await
            .unwrap()
    );
    // `user` was read before the change: its epoch is stale.
    assert!(
        !store
            .start_session(&user, a_session(), "2026-11-27T08:00:00Z")
            .await
            .unwrap()
    );

    let current = store.find_by_email("ada@example.com").await.unwrap().expect("found");
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.id)),
        )
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("USER".to_owned()))
        .update_expression("SET is_active = :no")
        .expression_attribute_values(":no", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
        .send()
        .await
        .unwrap();
    assert!(
        !store
            .start_session(&current, a_session(), "2026-11-27T08:00:00Z")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_sessions_end() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let next = random_id();
    let expires = shared::now_unix() + 1000;
    assert!(
        store
            .rotate_refresh(user.id, &session.id, &session.refresh_jti, &next, expires)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate_refresh(user.id, &session.id, &session.refresh_jti, &random_id(), expires)
            .await
            .unwrap(),
        "a spent token does not rotate again"
    );
    assert!(
        store
            .rotate_refresh(user.id, &session.id, &session.refresh_jti, &next, expires)
            .await
            .unwrap(),
        "a retried write that already landed counts as done"
    );
    assert!(store.end_session(user.id, &session.id).await.unwrap());
    assert!(!store.end_session(user.id, &session.id).await.unwrap(), "already ended");
    assert!(
        !store
            .rotate_refresh(user.id, &session.id, &next, &random_id(), expires)
            .await
            .unwrap(),
        "an ended session does not rotate"
    );
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(view.live(shared::now_unix()).unwrap_err(), SessionProblem::Revoked);
}

#[tokio::test]
async fn racing_rotations_of_one_token_have_exactly_one_winner() {
    let store = Arc::new(fresh_store().await);
    let (user, session) = joined(&store, "ada@example.com").await;
    let session = Arc::new(session);
    let rotations = (0..10).map(|_| {
        let (store, session) = (Arc::clone(&store), Arc::clone(&session));
        tokio::spawn(async move {
            let expires = shared::now_unix() + 1000;
            store
                .rotate_refresh(user.id, &session.id, &session.refresh_jti, &random_id(), expires)
                .await
        })
    });
    let won = futures::future::join_all(rotations)
        .await
        .into_iter()
        .filter(|rotated| matches!(rotated, Ok(Ok(true))))
        .count();
    assert_eq!(won, 1);
}

#[tokio::test]
async fn revoking_a_session_leaves_the_others() {
    let store = fresh_store().await;
    let (user, first) = joined(&store, "ada@example.com").await;
    let second = a_session();
    store
        .start_session(&user, second.clone(), "2026-11-27T08:00:00Z")
        .await
        .unwrap();
    store.revoke_session(user.id, &first.id).await.unwrap();
    let now = shared::now_unix();
    assert!(store.load(user.id, &first.id).await.unwrap().live(now).is_err());
    assert!(store.load(user.id, &second.id).await.unwrap().live(now).is_ok());
    // Revoking a session that does not exist is not an error.
    store.revoke_session(user.id, &random_id()).await.unwrap();
}

#[tokio::test]
async fn a_password_change_keeps_its_session_and_revokes_the_others() {
    let store = fresh_store().await;
    let (user, kept) = joined(&store, "ada@example.com").await;
    let other = a_session();
    store
        .start_session(&user, other.clone(), "2026-11-27T08:00:00Z")
        .await
        .unwrap();

    assert!(
        store
            .change_password(user.id, &kept.id, user.session_epoch, "new-hash")
            .await
            .unwrap()
    );
    let now = shared::now_unix();
    let kept_view = store.load(user.id, &kept.id).await.unwrap();
    let (changed, _) = kept_view.live(now).expect("the changing session lives on");
    assert_eq!(changed.password_hash, "new-hash");
    let other_view = store.load(user.id, &other.id).await.unwrap();
    assert_eq!(other_view.live(now).unwrap_err(), SessionProblem::Revoked);

    // A change based on the old epoch (a concurrent change) is refused, and changes nothing.
    assert!(
        !store
            .change_password(user.id, &kept.id, user.session_epoch, "stale-hash")
            .await
            .unwrap()
    );
    let after = store.load(user.id, &kept.id).await.unwrap();
    assert_eq!(after.user.expect("user").password_hash, "new-hash");
}

#[tokio::test]
async fn sessions_carry_the_ttl_attribute_and_the_table_has_ttl_on() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let description = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(description.attribute_name(), Some(TableDefinition::TTL_ATTRIBUTE));

    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.id)),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("SESSION#{}", session.id)),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("session item");
    let expires_at = item
        .get(TableDefinition::TTL_ATTRIBUTE)
        .and_then(|value| value.as_n().ok())
        .expect("a number");
    assert_eq!(expires_at.parse::<i64>().unwrap(), session.expires_at);
}

#[tokio::test]
async fn create_superuser_stores_a_staff_superuser() {
    let store = fresh_store().await;
    let password = SecretString::from("Admin-Pw!93821");
    let admin = create_superuser(&store, "root@example.com", &password).await.unwrap();
    let found = store.find_by_email("root@example.com").await.unwrap().expect("found");
    assert_eq!(found.id, admin.id);
    assert!(found.is_staff && found.is_superuser && found.is_active);
    assert!(shared::password::verify_password(&password, &found.password_hash));
}

#[tokio::test]
async fn operations_cost_a_fixed_number_of_round_trips() {
    let store = fresh_store().await;
    let counted = |before: u64| store.round_trips() - before;

    let before = store.round_trips();
    let (user, session) = joined(&store, "ada@example.com").await;
    assert_eq!(counted(before), 2, "join: id counter + one transaction");

    let before = store.round_trips();
    store.find_by_email("ada@example.com").await.unwrap();
    assert_eq!(counted(before), 2, "email claim + user");

    let before = store.round_trips();
    store.find_by_email("nobody@example.com").await.unwrap();
    assert_eq!(counted(before), 2, "an unknown email costs the same");

    let before = store.round_trips();
    store
        .start_session(&user, a_session(), "2026-11-27T08:00:00Z")
        .await
        .unwrap();
    assert_eq!(counted(before), 1);

    let before = store.round_trips();
    store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, &random_id(), 1)
        .await
        .unwrap();
    store.change_password(user.id, &session.id, 0, "h").await.unwrap();
    assert_eq!(counted(before), 2);
}

#[tokio::test]
async fn an_unreachable_store_is_reported_as_unavailable() {
    // A port where nothing listens: the answer must be Unavailable (503), not a hang or a 500.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "store-test",
        ))
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "nowhere");
    let error = store.find_by_email("ada@example.com").await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
}

#[tokio::test]
async fn login_failures_count_atomically_lock_reset_with_the_window_and_clear() {
    use shared::store::{LoginFailures, LoginThrottleStore};
    let store = Arc::new(fresh_store().await);
    let email = "throttled@example.com";
    let now = 1_800_000_000;
    assert_eq!(
        store.login_failures(email, now).await.unwrap(),
        LoginFailures::default()
    );

    // Ten racing failures: every one counts (ADD, not read-modify-write).
    let racing = (0..10).map(|_| {
        let store = store.clone();
        async move { store.add_login_failure(email, now, 900, 4500).await.unwrap() }
    });
    let mut counts = futures::future::join_all(racing).await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());
    store.lock_logins(email, now + 60).await.unwrap();
    assert_eq!(
        store.login_failures(email, now + 1).await.unwrap(),
        LoginFailures {
            count: 10,
            locked_until: now + 60
        }
    );

    // Once the window has ended the item (not yet deleted by TTL) counts nothing, and the
    // next failure starts a new window.
    assert_eq!(store.login_failures(email, now + 900).await.unwrap().count, 0);
    assert_eq!(store.add_login_failure(email, now + 901, 900, 4500).await.unwrap(), 1);
    assert_eq!(store.add_login_failure(email, now + 902, 900, 4500).await.unwrap(), 2);

    // Other emails are untouched; clearing forgets.
    assert_eq!(
        store.login_failures("other@example.com", now).await.unwrap(),
        LoginFailures::default()
    );
    store.clear_login_failures(email).await.unwrap();
    assert_eq!(
        store.login_failures(email, now + 903).await.unwrap(),
        LoginFailures::default()
    );
}
