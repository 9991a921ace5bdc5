//! The DynamoDB store against a real DynamoDB-protocol server (moto, started by `make test`).
//! Each test works in a table of its own.

use std::io::Write;
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;

use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::SecretString;
use shared::account::{create_superuser, new_session};
use shared::auth::throttle::reserve_password_check;
use shared::config::Config;
use shared::http::ApiError;
use shared::ids::random_id;
use shared::store::{
    AccountStore, DynamoStore, EmailStore, LoginThrottleStore, MailPurpose, NewSession, NewUser, NextRefresh,
    ProfileChanges, Registration, Rotation, SessionListStore, SessionOrigin, SessionProblem, SessionStore, StoreError,
    TableDefinition, ThrottleRecord, User, UserStore,
};
use shared::tokens::TokenKeys;

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

fn tokens_config() -> Config {
    Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| "store-test-signing-key-0123456789abc".to_owned()))
        .expect("config")
}

fn tokens() -> TokenKeys {
    tokens_config().token_keys()
}

fn a_session() -> NewSession {
    new_session(&tokens(), shared::now_unix(), SessionOrigin::default())
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

/// The user's item as stored, read straight from the table (`None`: no item).
async fn user_item(store: &DynamoStore, user_id: u64) -> Option<std::collections::HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("USER".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Sets `is_active`, as an admin would.
async fn set_active(store: &DynamoStore, user_id: u64, active: bool) {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("USER".to_owned()))
        .update_expression("SET is_active = :active")
        .expression_attribute_values(":active", AttributeValue::Bool(active))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_profile_update_writes_only_the_fields_given_and_answers_the_stored_user() {
    let store = fresh_store().await;
    let (user, _) = joined(&store, "ada@example.com").await;
    let before = store.round_trips();
    let changes = ProfileChanges {
        first_name: Some("Grace".into()),
        date_of_birth: Some(None),
        ..ProfileChanges::default()
    };
    let updated = store
        .update_profile(user.id, user.session_epoch, &changes)
        .await
        .unwrap()
        .expect("an active user at its epoch");
    assert_eq!(
        store.round_trips() - before,
        1,
        "one conditional write, read back by itself"
    );
    let mut expected = user.clone();
    expected.first_name = "Grace".into();
    expected.date_of_birth = None;
    assert_eq!(
        updated, expected,
        "the other fields, hash and flags included, are as they were"
    );
    assert_eq!(
        store.find_by_email("ada@example.com").await.unwrap(),
        Some(expected.clone())
    );
    let item = user_item(&store, user.id).await.expect("the user item");
    assert_eq!(
        item["date_of_birth"],
        AttributeValue::Null(true),
        "cleared as join stores none"
    );

    let changes = ProfileChanges {
        last_name: Some("Hopper".into()),
        gender: Some(String::new()),
        date_of_birth: Some(Some("1906-12-09".into())),
        ..ProfileChanges::default()
    };
    let updated = store.update_profile(user.id, 0, &changes).await.unwrap().unwrap();
    assert_eq!(
        (
            updated.first_name.as_str(),
            updated.last_name.as_str(),
            updated.gender.as_str()
        ),
        ("Grace", "Hopper", "")
    );
    assert_eq!(updated.date_of_birth.as_deref(), Some("1906-12-09"));

    // Nothing to change: still one conditional write, and the user as stored.
    let unchanged = store
        .update_profile(user.id, 0, &ProfileChanges::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, updated);
    assert_eq!(unchanged.session_epoch, 0);
}

#[tokio::test]
async fn a_profile_update_never_overwrites_a_password_change_a_deactivation_or_a_deletion() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let changes = ProfileChanges {
        first_name: Some("Mallory".into()),
        ..ProfileChanges::default()
    };
    // A password change landed after the request authenticated at epoch 0.
    assert!(
        store
            .change_password(user.id, &session.id, 0, "new-hash")
            .await
            .unwrap()
    );
    assert_eq!(
        store.update_profile(user.id, 0, &changes).await.unwrap(),
        Err(SessionProblem::Revoked)
    );
    let stored = store.find_by_email("ada@example.com").await.unwrap().unwrap();
    assert_eq!(
        (stored.first_name.as_str(), stored.password_hash.as_str()),
        ("Ada", "new-hash")
    );

    // Deactivated at the current epoch: refused, and still inactive.
    set_active(&store, user.id, false).await;
    assert_eq!(
        store.update_profile(user.id, 1, &changes).await.unwrap(),
        Err(SessionProblem::NoActiveUser)
    );
    let stored = store.find_by_email("ada@example.com").await.unwrap().unwrap();
    assert!(!stored.is_active, "the deactivation stands");
    assert_eq!(stored.first_name, "Ada");
    // Deactivated and at a stale epoch: the moved epoch is told first, as a session check would.
    assert_eq!(
        store.update_profile(user.id, 0, &changes).await.unwrap(),
        Err(SessionProblem::Revoked)
    );

    // Deleted: refused, and not recreated as a stub holding only the changed fields.
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("USER#{}", user.id)))
        .key("SK", AttributeValue::S("USER".to_owned()))
        .send()
        .await
        .unwrap();
    for changes in [changes, ProfileChanges::default()] {
        assert_eq!(
            store.update_profile(user.id, 1, &changes).await.unwrap(),
            Err(SessionProblem::NoActiveUser)
        );
    }
    assert!(user_item(&store, user.id).await.is_none());
}

fn next_refresh() -> NextRefresh {
    let now = shared::now_unix();
    NextRefresh {
        jti: random_id(),
        issued_at: now,
        session_expires_at: now + 1000,
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_sessions_end() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let next = next_refresh();
    let rotate = |presented: String, next: NextRefresh| {
        let (store, session_id) = (&store, session.id.clone());
        async move {
            store
                .rotate_refresh(user.id, &session_id, &presented, 0, &next)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        rotate(session.refresh_jti.clone(), next.clone()).await,
        Rotation::Rotated
    );
    let stored = store.load(user.id, &session.id).await.unwrap().session.unwrap();
    assert_eq!(
        (
            stored.refresh_jti.as_str(),
            stored.refresh_issued_at,
            stored.previous_jti.as_deref()
        ),
        (next.jti.as_str(), next.issued_at, Some(session.refresh_jti.as_str())),
        "the family records its current token, when it was issued, and the one it replaced"
    );
    assert_eq!(stored.expires_at, next.session_expires_at);
    // A spent token does not rotate again; the failed write shows the session as it is now.
    assert_eq!(
        rotate(session.refresh_jti.clone(), next_refresh()).await,
        Rotation::Overtaken(Some(stored.clone()))
    );
    assert_eq!(
        rotate(session.refresh_jti.clone(), next.clone()).await,
        Rotation::Rotated,
        "a retried write that already landed counts as done"
    );
    assert!(store.end_session(user.id, &session.id).await.unwrap());
    assert!(
        store.end_session(user.id, &session.id).await.unwrap(),
        "ending an ended session is done, not an error (a retried logout)"
    );
    assert!(
        !store.end_session(user.id, &random_id()).await.unwrap(),
        "no such session"
    );
    match rotate(next.jti.clone(), next_refresh()).await {
        Rotation::Overtaken(Some(ended)) => assert!(ended.revoked),
        other => panic!("an ended session does not rotate: {other:?}"),
    }
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(view.live(shared::now_unix()).unwrap_err(), SessionProblem::Revoked);
}

/// A refresh reads the user, then rotates: a password change (epoch moved), a deactivation or a
/// deletion landing in between must stop the rotation, or its fresh tokens would outlive them at
/// other services. One transaction: the session's write and a condition on the user.
#[tokio::test]
async fn a_rotation_writes_only_while_the_user_is_as_the_refresh_read_them() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "changed@example.com").await;
    let other = a_session();
    assert!(
        store
            .start_session(&user, other.clone(), "2026-11-27T08:00:00Z")
            .await
            .unwrap()
    );
    assert!(store.change_password(user.id, &other.id, 0, "new-hash").await.unwrap());
    let refused = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(refused, Rotation::UserChanged(SessionProblem::Revoked));
    let stored = store.load(user.id, &session.id).await.unwrap().session.unwrap();
    assert_eq!(stored.refresh_jti, session.refresh_jti, "nothing was written");

    let (user, session) = joined(&store, "deactivated@example.com").await;
    set_active(&store, user.id, false).await;
    let refused = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(refused, Rotation::UserChanged(SessionProblem::NoActiveUser));

    let (user, session) = joined(&store, "deleted@example.com").await;
    let caller = a_session();
    assert!(
        store
            .start_session(&user, caller.clone(), "2026-11-27T08:00:00Z")
            .await
            .unwrap()
    );
    assert_eq!(store.delete_account(&user, &caller.id).await.unwrap(), Ok(()));
    let refused = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(refused, Rotation::UserChanged(SessionProblem::NoActiveUser));

    // And the same rotation of a user as read goes through.
    let (user, session) = joined(&store, "unchanged@example.com").await;
    let rotated = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(rotated, Rotation::Rotated);
}

#[tokio::test]
async fn racing_rotations_of_one_token_have_exactly_one_winner_and_the_losers_see_it() {
    let store = Arc::new(fresh_store().await);
    let (user, session) = joined(&store, "ada@example.com").await;
    let session = Arc::new(session);
    let rotations = (0..10).map(|_| {
        let (store, session) = (Arc::clone(&store), Arc::clone(&session));
        tokio::spawn(async move {
            let next = next_refresh();
            let rotation = store
                .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next)
                .await;
            (next.jti, rotation.unwrap())
        })
    });
    let outcomes: Vec<(String, Rotation)> = futures::future::join_all(rotations)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, rotation)| *rotation == Rotation::Rotated)
        .map(|(jti, _)| jti)
        .collect();
    assert_eq!(winners.len(), 1);
    for (_, rotation) in &outcomes {
        if let Rotation::Overtaken(current) = rotation {
            let current = current.as_ref().expect("the session is there");
            assert_eq!(&current.refresh_jti, winners[0]);
            assert_eq!(current.previous_jti.as_ref(), Some(&session.refresh_jti));
        }
    }
}

#[tokio::test]
async fn ending_a_session_leaves_the_others() {
    let store = fresh_store().await;
    let (user, first) = joined(&store, "ada@example.com").await;
    let second = a_session();
    store
        .start_session(&user, second.clone(), "2026-11-27T08:00:00Z")
        .await
        .unwrap();
    assert!(store.end_session(user.id, &first.id).await.unwrap());
    let now = shared::now_unix();
    assert!(store.load(user.id, &first.id).await.unwrap().live(now).is_err());
    assert!(store.load(user.id, &second.id).await.unwrap().live(now).is_ok());
}

#[tokio::test]
async fn a_join_whose_transaction_had_already_committed_is_created_not_taken() {
    // What a retry of a join finds when its first attempt committed and the answer was lost:
    // the email claimed by the very id this call was given.
    let store = fresh_store().await;
    let counter = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S("COUNTER".into()))
        .key("SK", AttributeValue::S("USER".into()))
        .send()
        .await
        .unwrap();
    assert!(counter.item.is_none(), "a fresh table: the next id is 1");
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S("EMAIL#retry@example.com".into()))
        .item("SK", AttributeValue::S("EMAIL".into()))
        .item("user_id", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    match store.create_user(new_user("retry@example.com"), None).await.unwrap() {
        Registration::Created(user) => assert_eq!(user.id, 1),
        Registration::EmailTaken => panic!("its own claim is not someone else's"),
    }
    // Anyone else's claim is still taken.
    match store.create_user(new_user("retry@example.com"), None).await.unwrap() {
        Registration::EmailTaken => {}
        Registration::Created(user) => panic!("a second account {user:?}"),
    }
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
    assert!(shared::auth::password::verify_password(&password, &found.password_hash));
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
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    store.change_password(user.id, &session.id, 0, "h").await.unwrap();
    assert_eq!(counted(before), 2);

    let before = store.round_trips();
    let changes = ProfileChanges {
        last_name: Some("Lovelace".into()),
        ..ProfileChanges::default()
    };
    store.update_profile(user.id, 1, &changes).await.unwrap().unwrap();
    assert_eq!(counted(before), 1, "a profile update: one conditional write");
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
async fn throttle_records_are_replaced_only_from_the_version_read() {
    let store = fresh_store().await;
    let email = "throttled@example.com";
    assert_eq!(store.throttle_record(email).await.unwrap(), ThrottleRecord::default());
    let first = ThrottleRecord {
        failures: 1,
        locked_until: 0,
        expires_at: 1_800_000_000,
        version: 1,
        written_by: "a".into(),
    };
    assert_eq!(store.replace_throttle_record(email, 0, &first).await.unwrap(), Ok(()));
    assert_eq!(store.throttle_record(email).await.unwrap(), first);
    // A writer that read the missing record loses, and is shown what is there instead.
    let late = ThrottleRecord {
        written_by: "b".into(),
        ..first.clone()
    };
    assert_eq!(
        store.replace_throttle_record(email, 0, &late).await.unwrap(),
        Err(first.clone())
    );
    let second = ThrottleRecord {
        failures: 2,
        version: 2,
        written_by: "c".into(),
        ..first.clone()
    };
    assert_eq!(
        store.replace_throttle_record(email, 7, &second).await.unwrap(),
        Err(first.clone())
    );
    assert_eq!(store.replace_throttle_record(email, 1, &second).await.unwrap(), Ok(()));
    // Every record carries its TTL attribute.
    let raw = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("THROTTLE#{email}")))
        .key("SK", AttributeValue::S("LOGIN".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw.get(TableDefinition::TTL_ATTRIBUTE),
        Some(&AttributeValue::N("1800000000".into()))
    );
    store.clear_throttle_record(email).await.unwrap();
    assert_eq!(store.throttle_record(email).await.unwrap(), ThrottleRecord::default());
    assert_eq!(
        store.replace_throttle_record(email, 2, &second).await.unwrap(),
        Err(ThrottleRecord::default()),
        "a record cleared in between"
    );
}

#[tokio::test]
async fn a_throttle_record_from_before_versions_is_replaced_as_version_zero() {
    let store = fresh_store().await;
    let email = "legacy@example.com";
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S(format!("THROTTLE#{email}")))
        .item("SK", AttributeValue::S("LOGIN".into()))
        .item("failures", AttributeValue::N("3".into()))
        .item("window_ends", AttributeValue::N("1800000000".into()))
        .item("locked_until", AttributeValue::N("0".into()))
        .item("expires_at", AttributeValue::N("1800000000".into()))
        .send()
        .await
        .unwrap();
    let legacy = store.throttle_record(email).await.unwrap();
    assert_eq!((legacy.failures, legacy.version), (3, 0));
    let next = ThrottleRecord {
        failures: 4,
        version: 1,
        ..legacy
    };
    assert_eq!(store.replace_throttle_record(email, 0, &next).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn parallel_password_checks_never_outrun_the_throttle() {
    let store = Arc::new(fresh_store().await);
    let throttle = tokens_config().login_throttle;
    let email = "parallel@example.com";
    let now = shared::now_unix();
    let guesses = (0..30).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            reserve_password_check(store.as_ref(), throttle, email, now, ThrottleRecord::default()).await
        })
    });
    let outcomes: Vec<Result<(), ApiError>> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let checked = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(
        checked, throttle.failures as usize,
        "exactly the allowed guesses were checked"
    );
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, Ok(()) | Err(ApiError::Throttled(_)))),
        "the rest are throttled"
    );
    let record = store.throttle_record(email).await.unwrap();
    assert_eq!(record.failures, throttle.failures);
    assert!(record.locked_until > now && record.expires_at > record.locked_until);
}

// --- Issue 13: sessions listed, all but one revoked, the account deleted ---------------------

/// Starts a session for `user` (as login does) from this origin; its id.
async fn log_in(store: &DynamoStore, user: &User, device: &str) -> String {
    let origin = SessionOrigin {
        device: device.to_owned(),
        ip: Some("203.0.113.9".to_owned()),
    };
    let session = new_session(&tokens(), shared::now_unix(), origin);
    let id = session.id.clone();
    assert!(
        store
            .start_session(user, session, "2026-11-27T08:00:00Z")
            .await
            .unwrap()
    );
    id
}

/// Whether the session would let its tokens through now.
async fn is_live(store: &DynamoStore, user_id: u64, session_id: &str) -> Result<(), SessionProblem> {
    let view = store.load(user_id, session_id).await.unwrap();
    view.live(shared::now_unix()).map(|_| ())
}

/// A raw read of one item (`None`: no item), to see what a delete left.
async fn item(
    store: &DynamoStore,
    pk: String,
    sk: String,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn a_users_sessions_are_listed_by_a_query_of_their_partition_page_after_page() {
    // Two items a page: seven sessions take four pages (2+2+2+1).
    let store = fresh_store().await.with_page_limit(2);
    let (user, first) = joined(&store, "pages@example.com").await;
    let mut expected = vec![first.id.clone()];
    for device in ["Firefox on Linux", "Safari on iOS", "a", "b", "c", "d"] {
        expected.push(log_in(&store, &user, device).await);
    }
    let (other, _) = joined(&store, "other@example.com").await;
    log_in(&store, &other, "theirs").await;

    let before = store.round_trips();
    let listed = store.list_sessions(user.id).await.unwrap();
    assert_eq!(store.round_trips() - before, 4, "one Query a page");
    let mut ids: Vec<String> = listed.iter().map(|session| session.id.clone()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "every session of the user, no one else's, no other item");
    let firefox = listed.iter().find(|s| s.device == "Firefox on Linux").expect("listed");
    assert_eq!(firefox.ip.as_deref(), Some("203.0.113.9"));
    assert!(firefox.created_at > 0 && firefox.last_used_at == firefox.created_at);
    assert!(listed.iter().all(|session| session.user_id == user.id));
    assert!(store.list_sessions(user.id + 1000).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_session_item_from_before_issue_13_still_loads() {
    let store = fresh_store().await;
    let (user, _) = joined(&store, "legacy@example.com").await;
    // As login wrote sessions before: no created_at, last_used_at, device or ip.
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S(format!("USER#{}", user.id)))
        .item("SK", AttributeValue::S("SESSION#legacy".into()))
        .item("id", AttributeValue::S("legacy".into()))
        .item("user_id", AttributeValue::N(user.id.to_string()))
        .item("refresh_jti", AttributeValue::S(random_id()))
        .item("refresh_issued_at", AttributeValue::N("1795694400".into()))
        .item("revoked", AttributeValue::Bool(false))
        .item("epoch", AttributeValue::N("0".into()))
        .item("expires_at", AttributeValue::N("4102444800".into()))
        .send()
        .await
        .unwrap();
    let legacy = store
        .list_sessions(user.id)
        .await
        .unwrap()
        .into_iter()
        .find(|session| session.id == "legacy")
        .expect("listed");
    assert_eq!(
        (legacy.created_at, legacy.device.as_str(), legacy.ip.as_deref()),
        (0, "", None)
    );
    assert_eq!(legacy.last_used(), 1_795_694_400, "its refresh token's time");
    assert_eq!(is_live(&store, user.id, "legacy").await, Ok(()));
}

#[tokio::test]
async fn revoking_the_other_sessions_keeps_the_callers_in_one_transaction() {
    let store = fresh_store().await;
    let (user, kept) = joined(&store, "others@example.com").await;
    let others = [log_in(&store, &user, "a").await, log_in(&store, &user, "b").await];
    let before = store.round_trips();
    assert!(store.revoke_other_sessions(user.id, &kept.id, 0).await.unwrap());
    assert_eq!(store.round_trips() - before, 1);
    assert_eq!(is_live(&store, user.id, &kept.id).await, Ok(()));
    for other in &others {
        assert_eq!(is_live(&store, user.id, other).await, Err(SessionProblem::Revoked));
    }
    let after = store.load(user.id, &kept.id).await.unwrap().user.expect("user");
    assert_eq!(after.session_epoch, 1);
    assert_eq!(after.password_hash, user.password_hash, "no password change");
    // The same call again (a retry whose first answer was lost) is recognised as done, and
    // writes nothing more.
    assert!(store.revoke_other_sessions(user.id, &kept.id, 0).await.unwrap());
    assert_eq!(
        store
            .load(user.id, &kept.id)
            .await
            .unwrap()
            .user
            .expect("user")
            .session_epoch,
        1
    );
    // From a session the revocation ended, or from one that has ended otherwise: refused.
    assert!(!store.revoke_other_sessions(user.id, &others[0], 0).await.unwrap());
    let fresh = log_in(&store, &after, "c").await;
    assert!(store.end_session(user.id, &fresh).await.unwrap());
    assert!(!store.revoke_other_sessions(user.id, &fresh, 1).await.unwrap());
    assert_eq!(is_live(&store, user.id, &kept.id).await, Ok(()));
}

#[tokio::test]
async fn a_touch_writes_the_last_use_at_most_once_a_minute_and_never_creates_a_session() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "touch@example.com").await;
    let started = session.refresh_issued_at;
    assert!(!store.touch_session(user.id, &session.id, started + 30).await.unwrap());
    assert!(store.touch_session(user.id, &session.id, started + 60).await.unwrap());
    assert!(!store.touch_session(user.id, &session.id, started + 90).await.unwrap());
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(view.session.expect("session").last_used_at, started + 60);
    assert!(store.end_session(user.id, &session.id).await.unwrap());
    assert!(!store.touch_session(user.id, &session.id, started + 500).await.unwrap());
    assert!(!store.touch_session(user.id, "gone", started + 500).await.unwrap());
    assert!(
        item(&store, format!("USER#{}", user.id), "SESSION#gone".into())
            .await
            .is_none()
    );
}

#[tokio::test]
async fn deleting_an_account_removes_the_user_the_claim_the_throttle_record_and_the_callers_session_at_once() {
    let store = fresh_store().await;
    let email = "leaving@example.com";
    let (user, caller) = joined(&store, email).await;
    let others = [log_in(&store, &user, "a").await, log_in(&store, &user, "b").await];
    let guess = ThrottleRecord {
        failures: 1,
        expires_at: 4_102_444_800,
        version: 1,
        written_by: "g".into(),
        ..ThrottleRecord::default()
    };
    assert_eq!(store.replace_throttle_record(email, 0, &guess).await.unwrap(), Ok(()));

    let before = store.round_trips();
    assert_eq!(store.delete_account(&user, &caller.id).await.unwrap(), Ok(()));
    assert_eq!(store.round_trips() - before, 1, "one transaction");
    assert!(item(&store, format!("USER#{}", user.id), "USER".into()).await.is_none());
    assert!(!store.email_registered(email).await.unwrap());
    assert_eq!(store.throttle_record(email).await.unwrap(), ThrottleRecord::default());
    assert!(
        item(&store, format!("USER#{}", user.id), format!("SESSION#{}", caller.id))
            .await
            .is_none()
    );
    assert!(store.find_by_email(email).await.unwrap().is_none(), "nobody can log in");
    // Left for the sweep: dead already, their user gone.
    for other in &others {
        assert_eq!(is_live(&store, user.id, other).await, Err(SessionProblem::NoActiveUser));
    }
    let before = store.round_trips();
    store.delete_sessions(user.id, &others).await.unwrap();
    assert_eq!(store.round_trips() - before, 1, "one batch");
    assert!(store.list_sessions(user.id).await.unwrap().is_empty());

    // Done already (a retried or a racing deletion): done.
    assert_eq!(store.delete_account(&user, &caller.id).await.unwrap(), Ok(()));
    // The address joins again as a new user.
    let (again, _) = joined(&store, email).await;
    assert!(again.id > user.id);
}

#[tokio::test]
async fn a_deletion_landing_after_a_password_change_a_deactivation_or_a_logout_deletes_nothing() {
    let store = fresh_store().await;
    let (user, caller) = joined(&store, "refused@example.com").await;
    // The request authenticated at epoch 0; a password change moved the user on since.
    let other = log_in(&store, &user, "other").await;
    assert!(store.change_password(user.id, &other, 0, "new-hash").await.unwrap());
    assert_eq!(
        store.delete_account(&user, &caller.id).await.unwrap(),
        Err(SessionProblem::Revoked)
    );
    assert!(user_item(&store, user.id).await.is_some() && store.email_registered(&user.email).await.unwrap());

    let current = store.load(user.id, &other).await.unwrap().user.expect("user");
    set_active(&store, user.id, false).await;
    assert_eq!(
        store.delete_account(&current, &other).await.unwrap(),
        Err(SessionProblem::NoActiveUser)
    );
    set_active(&store, user.id, true).await;

    assert!(store.end_session(user.id, &other).await.unwrap());
    assert_eq!(
        store.delete_account(&current, &other).await.unwrap(),
        Err(SessionProblem::Revoked)
    );
    assert!(user_item(&store, user.id).await.is_some() && store.email_registered(&user.email).await.unwrap());
    assert_eq!(
        store.list_sessions(user.id).await.unwrap().len(),
        2,
        "no session deleted"
    );
}

#[tokio::test]
async fn a_login_that_read_the_user_before_the_deletion_starts_no_session_after_it() {
    let store = fresh_store().await;
    let (user, caller) = joined(&store, "race@example.com").await;
    // The login read `user` and checked the password; then the deletion committed.
    assert_eq!(store.delete_account(&user, &caller.id).await.unwrap(), Ok(()));
    let late = a_session();
    assert!(
        !store
            .start_session(&user, late.clone(), "2026-11-27T08:00:00Z")
            .await
            .unwrap()
    );
    assert!(
        item(&store, format!("USER#{}", user.id), format!("SESSION#{}", late.id))
            .await
            .is_none()
    );
    assert!(
        item(&store, format!("USER#{}", user.id), "USER".into()).await.is_none(),
        "no stub user"
    );
}

#[tokio::test]
async fn sessions_are_deleted_25_a_request() {
    let store = fresh_store().await;
    let (user, first) = joined(&store, "batches@example.com").await;
    let mut ids = vec![first.id];
    for _ in 0..29 {
        ids.push(log_in(&store, &user, "x").await);
    }
    ids.push(random_id()); // already gone: deleted all the same
    let before = store.round_trips();
    store.delete_sessions(user.id, &ids).await.unwrap();
    assert_eq!(store.round_trips() - before, 2);
    assert!(store.list_sessions(user.id).await.unwrap().is_empty());
    assert!(
        item(&store, format!("USER#{}", user.id), "USER".into()).await.is_some(),
        "sessions only"
    );
}

// Password reset and address verification.

#[tokio::test]
async fn a_reset_writes_once_per_hash_ends_every_session_and_forgets_guesses() {
    let store = fresh_store().await;
    let (user, session) = joined(&store, "reset@example.com").await;
    let guessed = ThrottleRecord {
        failures: 2,
        version: 1,
        expires_at: shared::now_unix() + 3600,
        ..ThrottleRecord::default()
    };
    assert!(
        store
            .replace_throttle_record(&user.email, 0, &guessed)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(store.find_by_id(user.id).await.unwrap(), Some(user.clone()));
    assert!(store.reset_password(&user, "$argon2id$first").await.unwrap());
    // A retry of that very write (its answer lost) is recognised by its hash; a rival is refused.
    assert!(store.reset_password(&user, "$argon2id$first").await.unwrap());
    assert!(!store.reset_password(&user, "$argon2id$second").await.unwrap());
    let stored = store.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$first");
    assert_eq!(stored.session_epoch, user.session_epoch + 1);
    assert!(stored.email_verified);
    let view = store.load(user.id, &session.id).await.unwrap();
    assert!(
        view.live(shared::now_unix()).is_err(),
        "the session ended with the reset"
    );
    assert_eq!(
        store.throttle_record(&user.email).await.unwrap(),
        ThrottleRecord::default()
    );
    assert_eq!(store.find_by_id(user.id + 1000).await.unwrap(), None);
}

#[tokio::test]
async fn racing_resets_of_one_hash_have_exactly_one_winner() {
    let store = Arc::new(fresh_store().await);
    let (user, _) = joined(&store, "race-reset@example.com").await;
    let attempts = (0..6).map(|i| {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(async move {
            store
                .reset_password(&user, &format!("$argon2id$racer-{i}"))
                .await
                .unwrap()
        })
    });
    let wins = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn an_address_is_verified_once_and_only_the_users_own() {
    let store = fresh_store().await;
    let (user, _) = joined(&store, "verify@example.com").await;
    assert!(!store.find_by_id(user.id).await.unwrap().unwrap().email_verified);
    assert!(!store.mark_email_verified(user.id, "other@example.com").await.unwrap());
    assert!(
        !store
            .mark_email_verified(user.id + 1000, "verify@example.com")
            .await
            .unwrap()
    );
    assert!(store.mark_email_verified(user.id, "verify@example.com").await.unwrap());
    assert!(!store.mark_email_verified(user.id, "verify@example.com").await.unwrap());
    assert!(store.find_by_id(user.id).await.unwrap().unwrap().email_verified);
}

#[tokio::test]
async fn mail_quotas_count_per_address_and_purpose_and_start_again_after_the_hour() {
    let store = fresh_store().await;
    let now = shared::now_unix();
    let take = |email: &'static str, purpose, at| {
        let store = &store;
        async move { store.take_mail_quota(email, purpose, 2, at).await.unwrap() }
    };
    assert!(take("q@example.com", MailPurpose::PasswordReset, now).await);
    assert!(take("q@example.com", MailPurpose::PasswordReset, now + 1).await);
    assert!(!take("q@example.com", MailPurpose::PasswordReset, now + 2).await);
    assert!(
        take("q@example.com", MailPurpose::EmailConfirmation, now).await,
        "its own count"
    );
    assert!(
        take("r@example.com", MailPurpose::PasswordReset, now).await,
        "its own count"
    );
    // The window ends an hour after its first mail (TTL may not have removed it yet).
    assert!(!take("q@example.com", MailPurpose::PasswordReset, now + 3599).await);
    assert!(take("q@example.com", MailPurpose::PasswordReset, now + 3600).await);
    assert!(take("q@example.com", MailPurpose::PasswordReset, now + 3601).await);
    assert!(!take("q@example.com", MailPurpose::PasswordReset, now + 3602).await);
}

#[tokio::test]
async fn racing_mails_to_one_address_never_pass_its_limit() {
    let store = Arc::new(fresh_store().await);
    let now = shared::now_unix();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .take_mail_quota("burst@example.com", MailPurpose::PasswordReset, 3, now)
                .await
                .unwrap()
        })
    });
    let taken = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|taken| *taken.as_ref().unwrap())
        .count();
    assert_eq!(taken, 3);
}
