//! `account-admin`'s user verbs, run as an operator runs them (the binary, against the local
//! DynamoDB server `make test` starts, a fresh table each test): the admin rules hold and every
//! action is a security event with the operator as its actor. And `backfill`, on items written
//! as a stack from before the admin indexes wrote them.

use std::process::{Command, Output};

use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::SecretString;
use shared::account::create_superuser;
use shared::ids::random_id;
use shared::store::{
    DynamoStore, EmailStore, EventKind, EventStore, EventSubject, NewUser, Registration, UserDirectory, UserQuery,
    UserStore,
};

const PASSWORD: &str = "Admin-Pw!93821";

async fn fresh_table() -> (String, DynamoStore) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("these tests need `make test`'s local DynamoDB");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "only against a local server");
    let table = format!("admin-cli-{}", random_id());
    let store = DynamoStore::connect(table.clone()).await;
    store.create_table_if_missing().await.expect("table");
    (table, store)
}

fn cli(table: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_account-admin"))
        .args(args)
        .env("TABLE_NAME", table)
        .env("ACCOUNT_ADMIN_OPERATOR", "ops-alice")
        .output()
        .expect("account-admin runs")
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn plain_user(store: &DynamoStore, email: &str) -> shared::store::User {
    let user = NewUser {
        email: email.to_owned(),
        password_hash: shared::auth::password::hash_password(&SecretString::from(PASSWORD)).expect("hash"),
        first_name: String::new(),
        last_name: String::new(),
        gender: String::new(),
        date_of_birth: None,
        is_staff: false,
        is_superuser: false,
        joined_at: "2026-12-05T12:00:00Z".to_owned(),
    };
    match store.create_user(user, None, &[]).await.expect("created") {
        Registration::Created(user) => user,
        Registration::EmailTaken => panic!("taken"),
    }
}

#[tokio::test]
async fn an_operator_lists_reads_changes_signs_out_resets_and_deletes_users_each_recorded() {
    let (table, store) = fresh_table().await;
    let root = create_superuser(&store, "root@example.com", &SecretString::from(PASSWORD))
        .await
        .expect("superuser");
    let ada = plain_user(&store, "ada@example.com").await;
    plain_user(&store, "adam@example.com").await;

    let listed: serde_json::Value =
        serde_json::from_str(&ok(&cli(&table, &["list-users", "AD", "--limit", "1"]))).expect("json");
    assert_eq!(listed["results"][0]["email"], "ada@example.com");
    let next = listed["next"].as_str().expect("a next page");
    let rest: serde_json::Value = serde_json::from_str(&ok(&cli(
        &table,
        &["list-users", "ad", "--limit", "1", "--cursor", next],
    )))
    .expect("json");
    assert_eq!(rest["results"][0]["email"], "adam@example.com");
    let user: serde_json::Value =
        serde_json::from_str(&ok(&cli(&table, &["get-user", "ADA@example.com"]))).expect("json");
    assert_eq!(user["pk"], ada.id);
    assert!(!user.to_string().contains("argon2"));

    ok(&cli(&table, &["set-staff", &ada.id.to_string(), "true"]));
    ok(&cli(&table, &["disable-user", "ada@example.com"]));
    let stored = store.find_by_email("ada@example.com").await.unwrap().expect("ada");
    assert!(stored.is_staff && !stored.is_active && stored.session_epoch == ada.session_epoch + 1);
    ok(&cli(&table, &["enable-user", "ada@example.com"]));
    assert!(ok(&cli(&table, &["sign-out-user", "ada@example.com"])).contains("0 sessions ended"));
    ok(&cli(&table, &["reset-password", "ada@example.com"]));
    let stored = store.find_by_email("ada@example.com").await.unwrap().expect("ada");
    assert!(!shared::auth::password::verify_password(
        &SecretString::from(PASSWORD),
        &stored.password_hash
    ));

    // The last active superuser stays one, whoever asks.
    let refused = cli(&table, &["set-superuser", "root@example.com", "false"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains(shared::admin::LAST_SUPERUSER));
    assert!(store.find_by_id(root.id).await.unwrap().expect("root").is_superuser);
    assert!(!cli(&table, &["get-user", "nobody@example.com"]).status.success());

    ok(&cli(&table, &["delete-user", &ada.id.to_string()]));
    assert!(store.find_by_id(ada.id).await.unwrap().is_none());

    let events = store
        .events_of(&EventSubject::User(ada.id), 0, None, 20)
        .await
        .expect("events")
        .events;
    let kinds: Vec<EventKind> = events.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::AdminDelete,
            EventKind::AdminPasswordReset,
            EventKind::AdminSignOut,
            EventKind::AdminUpdate,
            EventKind::AdminUpdate,
            EventKind::AdminUpdate,
        ]
    );
    for event in &events {
        assert_eq!(event.actor, None, "an operator is no user");
        assert_eq!(event.detail["operator"], "ops-alice");
        assert_eq!(event.device.as_deref(), Some("account-admin"));
    }
}

#[tokio::test]
async fn backfill_puts_old_users_in_the_list_and_their_superusers_in_the_set() {
    let (table, store) = fresh_table().await;
    let old = plain_user(&store, "old@example.com").await;
    let root = create_superuser(&store, "root@example.com", &SecretString::from(PASSWORD))
        .await
        .expect("superuser");
    // As a stack from before the indexes left them: no list key, no superuser set.
    for id in [old.id, root.id] {
        store
            .client()
            .update_item()
            .table_name(&table)
            .key("PK", AttributeValue::S(format!("USER#{id}")))
            .key("SK", AttributeValue::S("USER".into()))
            .update_expression("REMOVE user_list")
            .send()
            .await
            .expect("made old");
    }
    store
        .client()
        .delete_item()
        .table_name(&table)
        .key("PK", AttributeValue::S("SUPERUSERS".into()))
        .key("SK", AttributeValue::S("SET".into()))
        .send()
        .await
        .expect("set removed");
    let everyone = UserQuery::default();
    assert!(store.list_users(&everyone, None, 10).await.unwrap().users.is_empty());

    assert!(ok(&cli(&table, &["backfill"])).contains("2 users"));
    let listed: Vec<String> = store
        .list_users(&everyone, None, 10)
        .await
        .unwrap()
        .users
        .into_iter()
        .map(|user| user.email)
        .collect();
    assert_eq!(listed, ["old@example.com", "root@example.com"]);
    // The set holds root again: the last superuser is kept one.
    let refused = cli(&table, &["set-superuser", "root@example.com", "false"]);
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
}
