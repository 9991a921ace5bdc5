//! Handler tests for GET /account/admin/events/ over the memory store (issue 28): everyone's
//! events newest first, by subject and by type, a page at a time, for staff alone.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use admin_events::{INVALID_USER, handle};
use shared::App;
use shared::http::pages::{INVALID_CURSOR, INVALID_LIMIT};
use shared::security_log;
use shared::store::{EventKind, EventStore, EventSubject, MemoryStore, SessionOrigin};
use shared::testing::{PASSWORD, SessionTokens, app, assert_400, bearer, body_json, event, join_user};

async fn list(app: &App<MemoryStore>, access: &str, query: &str) -> Response<Body> {
    let path = format!("/account/admin/events/{query}");
    handle(app, event("GET", &path, &[("authorization", &bearer(access))], None)).await
}

/// A staff session, and events of two users and an address, oldest first.
async fn staff_with_events() -> (App<MemoryStore>, SessionTokens, Vec<String>) {
    let app = app();
    let (staff, tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    let origin = SessionOrigin::default();
    let mut ids = Vec::new();
    for (offset, kind, subject) in [
        (0, EventKind::Login, EventSubject::User(7)),
        (1, EventKind::LoginFailed, EventSubject::address("00ff")),
        (2, EventKind::Login, EventSubject::User(8)),
        (3, EventKind::Logout, EventSubject::User(7)),
    ] {
        let mut recorded = security_log::event(&app.config, kind, subject, None, &origin);
        recorded.at_ms += offset;
        ids.push(recorded.id.clone());
        app.store.record_events(&[recorded]).await.expect("recorded");
    }
    (app, tokens, ids)
}

fn ids_of(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|event| event["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn staff_read_everyones_events_newest_first_by_user_and_type_a_page_at_a_time() {
    let (app, tokens, ids) = staff_with_events().await;
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let first = body_json(&list(&app, &tokens.access, "?limit=3").await);
    assert_eq!(ids_of(&first), newest_first[..3]);
    let next = first["next"].as_str().expect("a next page");
    let second = body_json(&list(&app, &tokens.access, &format!("?limit=3&cursor={next}")).await);
    assert_eq!(ids_of(&second), newest_first[3..]);
    assert_eq!(second["next"], Value::Null);
    assert_eq!(first["results"][0]["type"], "logout");
    assert!(first["results"][0].get("expires_at").is_none());

    let of = async |query: &str| ids_of(&body_json(&list(&app, &tokens.access, query).await));
    assert_eq!(of("?user=7").await, [ids[3].clone(), ids[0].clone()]);
    assert_eq!(of("?type=login").await, [ids[2].clone(), ids[0].clone()]);
    assert_eq!(of("?user=7&type=login").await, [ids[0].clone()]);
    assert_eq!(of("?user=address:00ff").await, [ids[1].clone()]);
    assert_eq!(of("?user=9").await, Vec::<String>::new());
}

#[tokio::test]
async fn bad_filters_and_another_filters_cursor_are_400s_and_strangers_403() {
    let (app, tokens, _) = staff_with_events().await;
    assert_400(
        &list(&app, &tokens.access, "?user=ada&type=nap&limit=0").await,
        &json!({
            "user": [INVALID_USER],
            "type": ["\"nap\" is not a valid choice."],
            "limit": [INVALID_LIMIT],
        }),
    );
    assert_400(
        &list(&app, &tokens.access, "?user=address:XYZ").await,
        &json!({"user": [INVALID_USER]}),
    );
    let next = body_json(&list(&app, &tokens.access, "?limit=1").await)["next"]
        .as_str()
        .expect("more")
        .to_owned();
    assert_400(
        &list(&app, &tokens.access, &format!("?type=login&cursor={next}")).await,
        &json!({"cursor": [INVALID_CURSOR]}),
    );
    let (_, plain) = join_user(&app, "plain@example.com", PASSWORD).await;
    assert_eq!(list(&app, &plain.access, "").await.status(), 403);
}
