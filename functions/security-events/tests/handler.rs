//! Handler tests for GET /account/events/ over the memory store (issue 28: the bearer's own
//! security activity, newest first, paged by a cursor bound to their list, within the
//! retention), with REST API events as AWS sends them.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use security_events::{ENDPOINT, handle};
use shared::App;
use shared::http::pages::{INVALID_CURSOR, INVALID_LIMIT};
use shared::ids::random_id;
use shared::store::{EventKind, EventStore, EventSubject, MemoryStore, SecurityEvent};
use shared::testing::{
    PASSWORD, app, app_with, assert_400, assert_401, assert_security_headers, assert_unavailable, bearer, body_json,
    event, header, join_user, refused_authorizations,
};

const PATH: &str = "/account/events/";

async fn list(app: &App<MemoryStore>, access: &str, query: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(
        app,
        event(
            "GET",
            &format!("{PATH}{query}"),
            &[("authorization", &authorization)],
            None,
        ),
    )
    .await
}

/// An event of `kind` about `user`, `seconds_ago` before now.
fn an_event(kind: EventKind, user: EventSubject, seconds_ago: i64) -> SecurityEvent {
    let at_ms = (shared::now_unix() - seconds_ago) * 1000;
    SecurityEvent {
        id: random_id(),
        kind,
        at_ms,
        user,
        actor: None,
        ip: Some("203.0.113.7".to_owned()),
        device: Some("Firefox on Linux".to_owned()),
        detail: [("reason".to_owned(), "wrong_password".to_owned())].into(),
        expires_at: at_ms / 1000 + 90 * 86_400,
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|event| event["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_user_sees_their_own_events_newest_first_and_nobody_elses() {
    let app = app();
    let (user, tokens) = join_user(&app, "events@example.com", PASSWORD).await;
    let (other, _) = join_user(&app, "other@example.com", PASSWORD).await;
    let mine = EventSubject::User(user.id);
    let older = an_event(EventKind::LoginFailed, mine.clone(), 60);
    let newer = an_event(EventKind::PasswordChanged, mine, 30);
    let theirs = an_event(EventKind::Login, EventSubject::User(other.id), 10);
    let an_address = an_event(EventKind::LoginFailed, EventSubject::address("ab12"), 10);
    app.store
        .record_events(&[older.clone(), newer.clone(), theirs, an_address])
        .await
        .unwrap();

    let response = list(&app, &tokens.access, "").await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_security_headers(&response);
    assert_eq!(header(&response, "allow"), Some(ENDPOINT.allow()));
    let body = body_json(&response);
    assert_eq!(ids(&body), [newer.id.clone(), older.id.clone()]);
    assert_eq!(body["next"], Value::Null);
    let time = time::OffsetDateTime::from_unix_timestamp(older.at_ms / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        body["results"][1],
        json!({
            "id": older.id, "type": "login_failed", "time": time, "user": user.id, "actor": null,
            "ip": "203.0.113.7", "device": "Firefox on Linux", "detail": {"reason": "wrong_password"},
        })
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_to_the_end_and_a_cursor_of_another_list_is_refused() {
    let app = app();
    let (user, tokens) = join_user(&app, "pages@example.com", PASSWORD).await;
    let (other, other_tokens) = join_user(&app, "pager@example.com", PASSWORD).await;
    let events: Vec<SecurityEvent> = (0..25)
        .map(|i| an_event(EventKind::LoginFailed, EventSubject::User(user.id), 100 - i))
        .collect();
    app.store.record_events(&events).await.unwrap();
    app.store
        .record_events(&[
            an_event(EventKind::Login, EventSubject::User(other.id), 5),
            an_event(EventKind::Login, EventSubject::User(other.id), 4),
        ])
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut query = "?limit=10".to_owned();
    let mut sizes = Vec::new();
    loop {
        let body = body_json(&list(&app, &tokens.access, &query).await);
        sizes.push(ids(&body).len());
        seen.extend(ids(&body));
        match body["next"].as_str() {
            Some(next) => query = format!("?limit=10&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    let newest_first: Vec<String> = events.iter().rev().map(|event| event.id.clone()).collect();
    assert_eq!(seen, newest_first, "each once, newest first");

    // The other user's cursor, on this user's list: refused, not followed.
    let theirs = body_json(&list(&app, &other_tokens.access, "?limit=1").await)["next"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let refused = json!({"cursor": [INVALID_CURSOR]});
    assert_400(
        &list(&app, &tokens.access, &format!("?cursor={theirs}")).await,
        &refused,
    );
    for malformed in ["x", "djF8dXNlcjox", "%00", ""] {
        assert_400(
            &list(&app, &tokens.access, &format!("?cursor={malformed}")).await,
            &refused,
        );
    }
}

#[tokio::test]
async fn a_limit_outside_1_to_100_is_refused_and_the_default_is_20() {
    let app = app();
    let (user, tokens) = join_user(&app, "limits@example.com", PASSWORD).await;
    let events: Vec<SecurityEvent> = (0..120)
        .map(|i| an_event(EventKind::LoginFailed, EventSubject::User(user.id), 200 - i))
        .collect();
    app.store.record_events(&events).await.unwrap();
    for limit in ["0", "101", "-1", "ten", "1.5", ""] {
        assert_400(
            &list(&app, &tokens.access, &format!("?limit={limit}")).await,
            &json!({"limit": [INVALID_LIMIT]}),
        );
    }
    assert_eq!(ids(&body_json(&list(&app, &tokens.access, "").await)).len(), 20);
    assert_eq!(
        ids(&body_json(&list(&app, &tokens.access, "?limit=100").await)).len(),
        100
    );
    assert_eq!(ids(&body_json(&list(&app, &tokens.access, "?limit=1").await)).len(), 1);
}

#[tokio::test]
async fn events_past_the_retention_are_not_listed_even_before_the_ttl_removes_them() {
    let app = app_with(&[("EVENT_RETENTION_DAYS", "1")]);
    let (user, tokens) = join_user(&app, "retention@example.com", PASSWORD).await;
    let kept = an_event(EventKind::Login, EventSubject::User(user.id), 3600);
    let expired = an_event(EventKind::Login, EventSubject::User(user.id), 2 * 86_400);
    app.store.record_events(&[kept.clone(), expired]).await.unwrap();
    assert_eq!(ids(&body_json(&list(&app, &tokens.access, "").await)), [kept.id]);
}

#[tokio::test]
async fn only_a_live_access_token_lists_and_a_store_outage_is_a_503() {
    let app = app();
    let (user, tokens) = join_user(&app, "refused@example.com", PASSWORD).await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &tokens) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        for path in [PATH, "/account/events"] {
            assert_401(&handle(&app, event("GET", path, &headers, None)).await, &expected);
        }
    }
    app.store.set_unavailable(true);
    assert_unavailable(&list(&app, &tokens.access, "").await);
}

#[tokio::test]
async fn other_methods_are_405_with_the_allowed_ones() {
    let app = app();
    let (_, tokens) = join_user(&app, "methods@example.com", PASSWORD).await;
    let authorization = bearer(&tokens.access);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let response = handle(
            &app,
            event(method, PATH, &[("authorization", &authorization)], Some("{}")),
        )
        .await;
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), Some(ENDPOINT.allow()));
    }
}
