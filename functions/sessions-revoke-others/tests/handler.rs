//! Handler tests for POST /account/sessions/revoke-others/ over the memory store (issue 13:
//! every session but the caller's ends at once, by password change's mechanism; the answer
//! counts them).

use lambda_http::{Body, Response};
use serde_json::json;

use sessions_revoke_others::handle;
use shared::App;
use shared::store::{MemoryStore, SessionOrigin, SessionStore};
use shared::testing::{
    PASSWORD, app, assert_401, assert_post_route_conventions, assert_security_headers, assert_unavailable, bearer,
    body_json, event, header, join_user, post_json, refused_authorizations, start_session, start_session_at,
    token_not_valid, user_inactive,
};

const PATH: &str = "/account/sessions/revoke-others/";

async fn revoke_others(app: &App<MemoryStore>, access: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(app, post_json(PATH, &json!({}), &[("authorization", &authorization)])).await
}

#[track_caller]
fn assert_revoked(response: &Response<Body>, count: usize) {
    assert_eq!(response.status(), 200, "{}", body_json(response));
    assert_security_headers(response);
    assert_eq!(header(response, "allow"), Some("POST, OPTIONS"));
    assert_eq!(body_json(response), json!({"revoked": count}));
}

/// Whether the session's access token still authenticates (the store's own rule).
async fn live(app: &App<MemoryStore>, user_id: u64, session_id: &str) -> bool {
    let view = app.store.load(user_id, session_id).await.unwrap();
    view.live(shared::now_unix()).is_ok()
}

#[tokio::test]
async fn every_other_session_ends_and_the_callers_lives_on() {
    let app = app();
    let (user, caller) = join_user(&app, "everywhere@example.com", PASSWORD).await;
    let others = [
        start_session(&app, user.id).await,
        start_session(&app, user.id).await,
        start_session(&app, user.id).await,
    ];
    assert_revoked(&revoke_others(&app, &caller.access).await, 3);
    assert!(live(&app, user.id, &caller.session_id).await);
    for other in &others {
        assert!(!live(&app, user.id, &other.session_id).await);
        // Their own request is refused as any revoked session's is.
        let response = revoke_others(&app, &other.access).await;
        assert_401(&response, &token_not_valid("Token is invalid"));
    }
    assert_eq!(app.store.user(user.id).unwrap().session_epoch, 1, "one epoch bump");
    // Again: nothing left to end, nothing written.
    assert_revoked(&revoke_others(&app, &caller.access).await, 0);
    assert_eq!(app.store.user(user.id).unwrap().session_epoch, 1);
    // A login afterwards starts a live session under the new epoch.
    let later = start_session(&app, user.id).await;
    assert!(live(&app, user.id, &later.session_id).await);
}

#[tokio::test]
async fn only_live_sessions_of_the_caller_are_counted_and_other_users_keep_theirs() {
    let app = app();
    let (user, caller) = join_user(&app, "counted@example.com", PASSWORD).await;
    let logged_out = start_session(&app, user.id).await;
    assert!(app.store.end_session(user.id, &logged_out.session_id).await.unwrap());
    start_session_at(&app, user.id, SessionOrigin::default(), shared::now_unix() - 2 * 86_400).await;
    let live_one = start_session(&app, user.id).await;
    let (stranger, strangers) = join_user(&app, "stranger@example.com", PASSWORD).await;

    assert_revoked(&revoke_others(&app, &caller.access).await, 1);
    assert!(!live(&app, user.id, &live_one.session_id).await);
    assert!(live(&app, stranger.id, &strangers.session_id).await);
}

#[tokio::test]
async fn alone_it_answers_zero_and_writes_nothing() {
    let app = app();
    let (user, caller) = join_user(&app, "alone@example.com", PASSWORD).await;
    for path in [PATH, "/account/sessions/revoke-others"] {
        let authorization = bearer(&caller.access);
        let response = handle(&app, post_json(path, &json!({}), &[("authorization", &authorization)])).await;
        assert_revoked(&response, 0);
    }
    assert_eq!(app.store.user(user.id).unwrap().session_epoch, 0);
    assert!(live(&app, user.id, &caller.session_id).await);
}

#[tokio::test]
async fn the_body_is_read_by_the_rules_of_every_post_route_after_authentication() {
    let app = app();
    let (user, caller) = join_user(&app, "bodies@example.com", PASSWORD).await;
    let other = start_session(&app, user.id).await;
    let authorization = bearer(&caller.access);
    let with_token = |content_type: &'static str, body: &'static str| {
        event(
            "POST",
            PATH,
            &[("authorization", &authorization), ("content-type", content_type)],
            Some(body),
        )
    };
    let response = handle(&app, with_token("text/plain", "x")).await;
    assert_eq!(response.status(), 415);
    let response = handle(&app, with_token("application/json", "{\"a\":")).await;
    assert_eq!(response.status(), 400);
    assert!(
        body_json(&response)["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - ")
    );
    let response = handle(&app, with_token("application/json", "[]")).await;
    assert_eq!(
        body_json(&response),
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
    assert!(
        live(&app, user.id, &other.session_id).await,
        "a refused request ends nothing"
    );
    // Without a token the body is not even read.
    let response = handle(&app, event("POST", PATH, &[("content-type", "text/plain")], Some("x"))).await;
    assert_eq!(response.status(), 401);
    // Unknown keys are ignored; a form body is a body too.
    let response = handle(&app, with_token("application/x-www-form-urlencoded", "all=1")).await;
    assert_revoked(&response, 1);
}

#[tokio::test]
async fn it_refuses_what_mypage_refuses_and_ends_nothing() {
    let app = app();
    let (user, caller) = join_user(&app, "refused@example.com", PASSWORD).await;
    let other = start_session(&app, user.id).await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &caller) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let response = handle(&app, post_json(PATH, &json!({}), &headers)).await;
        assert_401(&response, &expected);
    }
    assert!(live(&app, user.id, &other.session_id).await);
    app.store.set_active(user.id, false);
    let response = revoke_others(&app, &caller.access).await;
    assert_401(&response, &user_inactive());
}

#[tokio::test]
async fn the_route_conventions_hold() {
    let app = app();
    assert_post_route_conventions(
        |request| handle(&app, request),
        PATH,
        "Sessions Revoke Others",
        &[
            "/account/sessions/",
            "/account/sessions/revoke-others/x/",
            "/account/mypage/",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_store_being_down_is_a_503() {
    let app = app();
    let (_, caller) = join_user(&app, "down@example.com", PASSWORD).await;
    app.store.set_unavailable(true);
    assert_unavailable(&revoke_others(&app, &caller.access).await);
}

#[tokio::test]
async fn revoking_others_is_recorded_with_the_count_and_nothing_to_revoke_is_not() {
    use shared::store::{EventKind, EventSubject};
    let app = app();
    let (user, caller) = join_user(&app, "recorded@example.com", PASSWORD).await;
    assert_revoked(&revoke_others(&app, &caller.access).await, 0);
    assert!(app.store.events().is_empty());
    start_session(&app, user.id).await;
    start_session(&app, user.id).await;
    assert_revoked(&revoke_others(&app, &caller.access).await, 2);
    let revoked = shared::testing::recorded(&app, EventKind::SessionsRevoked);
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].user, EventSubject::User(user.id));
    assert_eq!(revoked[0].detail["count"], "2");
}
