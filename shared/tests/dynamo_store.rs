//! What only the DynamoDB store shows, against a real DynamoDB-protocol server (moto, started by
//! `make test`): round trips, items as stored, pages, TTL, legacy items, the store unreachable.
//! Its behaviour is the contract both stores keep (`store_contract.rs`). Each test works in a
//! table of its own.

mod common;

use common::{a_session, fresh_store, joined, new_user, next_refresh, tokens, tokens_config};

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use common::Harness;
use shared::account::new_session;
use shared::auth::throttle::reserve_password_check;
use shared::http::ApiError;
use shared::ids::random_id;
use shared::store::{
    AccountStore, DynamoStore, LoginThrottleStore, ProfileChanges, Registration, SessionListStore, SessionOrigin,
    SessionProblem, SessionStore, StoreError, TableDefinition, ThrottleRecord, User, UserStore,
};

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
    match store
        .create_user(new_user("retry@example.com"), None, &[])
        .await
        .unwrap()
    {
        Registration::Created(user) => assert_eq!(user.id, 1),
        Registration::EmailTaken => panic!("its own claim is not someone else's"),
    }
    // Anyone else's claim is still taken.
    match store
        .create_user(new_user("retry@example.com"), None, &[])
        .await
        .unwrap()
    {
        Registration::EmailTaken => {}
        Registration::Created(user) => panic!("a second account {user:?}"),
    }
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
        .start_session(&user, a_session(), "2026-11-27T08:00:00Z", &[])
        .await
        .unwrap();
    assert_eq!(counted(before), 1);

    let before = store.round_trips();
    store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    store.change_password(user.id, &session.id, 0, "h", &[]).await.unwrap();
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
            .start_session(user, session, "2026-11-27T08:00:00Z", &[])
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
    assert!(store.revoke_other_sessions(user.id, &kept.id, 0, &[]).await.unwrap());
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
    assert!(store.revoke_other_sessions(user.id, &kept.id, 0, &[]).await.unwrap());
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
    assert!(!store.revoke_other_sessions(user.id, &others[0], 0, &[]).await.unwrap());
    let fresh = log_in(&store, &after, "c").await;
    assert!(store.end_session(user.id, &fresh).await.unwrap());
    assert!(!store.revoke_other_sessions(user.id, &fresh, 1, &[]).await.unwrap());
    assert_eq!(is_live(&store, user.id, &kept.id).await, Ok(()));
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
    assert_eq!(store.delete_account(&user, &caller.id, &[]).await.unwrap(), Ok(()));
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
    assert_eq!(store.delete_account(&user, &caller.id, &[]).await.unwrap(), Ok(()));
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
    assert!(
        store
            .change_password(user.id, &other, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.delete_account(&user, &caller.id, &[]).await.unwrap(),
        Err(SessionProblem::Revoked)
    );
    assert!(user_item(&store, user.id).await.is_some() && store.email_registered(&user.email).await.unwrap());

    let current = store.load(user.id, &other).await.unwrap().user.expect("user");
    store.set_active(user.id, false).await;
    assert_eq!(
        store.delete_account(&current, &other, &[]).await.unwrap(),
        Err(SessionProblem::NoActiveUser)
    );
    store.set_active(user.id, true).await;

    assert!(store.end_session(user.id, &other).await.unwrap());
    assert_eq!(
        store.delete_account(&current, &other, &[]).await.unwrap(),
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

/// The admin list's index: what a page of 50 users (the default) reads, with the longest
/// emails and names the service accepts. A GSI Query is eventually consistent: 0.5 RRU per
/// 4 KB of the index entries read (keys plus the projected attributes), summed over the page.
#[tokio::test]
async fn a_page_of_fifty_users_reads_a_few_read_units_of_the_index_and_one_query() {
    use shared::store::{TableDefinition, UserDirectory, UserQuery};
    let store = fresh_store().await;
    for i in 0..51 {
        let mut user = common::new_user(&format!("{}{i:02}@{}.example.com", "a".repeat(60), "d".repeat(40)));
        user.first_name = "F".repeat(150);
        user.last_name = "L".repeat(150);
        store.create_user(user, None, &[]).await.unwrap();
    }
    let before = store.round_trips();
    let page = store.list_users(&UserQuery::default(), None, 50).await.unwrap();
    assert_eq!(
        (page.users.len(), store.round_trips() - before),
        (50, 1),
        "one Query a page"
    );
    // What the index holds of each user: its keys and the projected attributes.
    let mut kept: Vec<&str> = vec![
        "PK",
        "SK",
        TableDefinition::USER_INDEX_PARTITION,
        TableDefinition::USER_INDEX_SORT,
    ];
    kept.extend(TableDefinition::USER_INDEX_ATTRIBUTES);
    let items = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(TableDefinition::USER_INDEX)
        .key_condition_expression("user_list = :list")
        .expression_attribute_values(":list", AttributeValue::S("USERS".into()))
        .limit(50)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let entries: Vec<usize> = items
        .iter()
        .map(|item| {
            let projected = item.iter().filter(|(name, _)| kept.contains(&name.as_str()));
            billed_size(&projected.map(|(name, value)| (name.clone(), value.clone())).collect())
        })
        .collect();
    let page_bytes: usize = entries.iter().sum();
    let read_units = page_bytes.div_ceil(4096) as f64 * 0.5;
    // Figures for the book (data-model.md, operating/costs.md).
    eprintln!(
        "users index entry: {} bytes at most; a page of 50: {page_bytes} bytes, {read_units} RRU",
        entries.iter().max().unwrap()
    );
    assert!(read_units <= 4.0, "a page of 50 of the longest users: {read_units} RRU");
}

/// The staff's event log: an event item with its day (the events-by-day index's key) is still
/// one write unit, and its index entry (ALL projected) one more.
#[tokio::test]
async fn an_event_with_its_day_stays_one_write_unit_and_a_log_page_is_one_query_a_day() {
    use shared::store::{AdminStore, EventFilter, EventKind, EventStore, EventSubject, SecurityEvent};
    let store = fresh_store().await;
    let now_ms = shared::now_unix() * 1000;
    let events: Vec<SecurityEvent> = (0..50)
        .map(|i| SecurityEvent {
            id: random_id(),
            kind: EventKind::AdminUpdate,
            at_ms: now_ms - i,
            user: EventSubject::User(4_294_967_296 + i as u64),
            actor: Some(4_294_967_296 + 7),
            ip: Some("2001:0db8:85a3:0000:0000:8a2e:0370:7334".to_owned()),
            device: Some("x".repeat(64)),
            detail: [(
                "fields".to_owned(),
                "is_active,is_staff,is_superuser,first_name,last_name,gender,date_of_birth,email_verified".to_owned(),
            )]
            .into(),
            expires_at: now_ms / 1000 + 90 * 86_400,
        })
        .collect();
    store.record_events(&events).await.unwrap();
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(format!("EVENTS#{}", 4_294_967_296_u64)))
        .key("SK", AttributeValue::S(format!("EVENT#{now_ms:013}#{}", events[0].id)))
        .send()
        .await
        .unwrap()
        .item
        .expect("the event");
    assert!(item.contains_key("event_day"));
    let size = billed_size(&item);
    eprintln!("event item with its day: {size} bytes");
    assert!(size <= 1024, "1 WRU, and 1 WRU of the index: {size} bytes");
    let before = store.round_trips();
    let page = store
        .event_feed(&EventFilter::default(), now_ms - 60_000, None, 50)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 50);
    assert_eq!(
        store.round_trips() - before,
        1,
        "today's events: one Query of today's partition"
    );
    let page_bytes = 50 * size;
    eprintln!(
        "a log page of 50: {page_bytes} bytes at most, {} RRU",
        page_bytes.div_ceil(4096) as f64 * 0.5
    );
}

// Password reset and address verification.

/// An item's size as DynamoDB bills it: each attribute's name in UTF-8 bytes plus its value (a
/// string's bytes, a number's digits, 1 for a boolean or null, maps and lists their contents
/// plus 3 bytes and 1 per element), per
/// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
fn billed_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn value_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(text) => text.len(),
            AttributeValue::N(number) => number.trim_start_matches('-').len().div_ceil(2) + 1,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(name, value)| name.len() + value_size(value) + 1)
                    .sum::<usize>()
            }
            AttributeValue::L(list) => 3 + list.iter().map(|value| value_size(value) + 1).sum::<usize>(),
            other => panic!("no such attribute in an event: {other:?}"),
        }
    }
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

#[tokio::test]
async fn an_event_is_one_write_unit_and_a_page_of_twenty_half_a_read_unit_per_4_kb() {
    use shared::store::{EventKind, EventStore, EventSubject, SecurityEvent};
    let store = fresh_store().await;
    let now_ms = shared::now_unix() * 1000;
    // The largest an event of today's routes gets: the longest device label (64), an IPv6
    // address in full, a reason, an admin's list of fields.
    let events: Vec<SecurityEvent> = (0..20)
        .map(|i| SecurityEvent {
            id: random_id(),
            kind: EventKind::AdminUpdate,
            at_ms: now_ms - i,
            user: EventSubject::User(4_294_967_296 + 123),
            actor: Some(4_294_967_296 + 7),
            ip: Some("2001:0db8:85a3:0000:0000:8a2e:0370:7334".to_owned()),
            device: Some("x".repeat(64)),
            detail: [
                (
                    "fields".to_owned(),
                    "is_active,is_staff,first_name,last_name,date_of_birth".to_owned(),
                ),
                ("reason".to_owned(), "email_not_verified".to_owned()),
            ]
            .into(),
            expires_at: now_ms / 1000 + 90 * 86_400,
        })
        .collect();
    let before = store.round_trips();
    store.record_events(&events).await.unwrap();
    assert_eq!(store.round_trips() - before, 20, "one PutItem an event");
    let items = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("EVENTS#{}", 4_294_967_296_u64 + 123)))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 20);
    let sizes: Vec<usize> = items.iter().map(billed_size).collect();
    let largest = *sizes.iter().max().unwrap();
    let page: usize = sizes.iter().sum();
    // Figures for the book (operating/costs.md, data-model.md).
    eprintln!("event item: {largest} bytes at most; a page of 20: {page} bytes");
    assert!(
        largest <= 1024,
        "an event put is 1 WRU (2 in a transaction): {largest} bytes"
    );
    assert!(
        page <= 16 * 1024,
        "a page of 20 reads at most 2 RRU eventually consistent: {page} bytes"
    );

    let before = store.round_trips();
    let page = store
        .events_of(&EventSubject::User(4_294_967_296 + 123), now_ms - 60_000, None, 20)
        .await
        .unwrap();
    assert_eq!(
        (page.events.len(), store.round_trips() - before),
        (20, 1),
        "one Query a page"
    );
}
