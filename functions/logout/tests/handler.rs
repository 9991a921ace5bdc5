//! Handler tests for POST /account/logout/ over the memory store (contract §4 logout, §5).

use lambda_http::{Body, Response};
use serde_json::json;

use logout::handle;
use shared::App;
use shared::auth::authenticate;
use shared::ids::random_id;
use shared::store::MemoryStore;
use shared::testing::{
    access_denial, app, app_with, assert_post_route_conventions, assert_security_headers, assert_unavailable, bearer,
    body_json, cookie_attributes, event, expired_token, foreign_token, header, joined, post_json, rotate_refresh,
    set_cookie, set_cookies, start_session, token_not_valid, unsigned_copy,
};
use shared::tokens::TokenKind;

const PATH: &str = "/account/logout/";
const LOGGED_OUT: &str = "Successfully logged out.";

async fn logout_with(app: &App<MemoryStore>, refresh: &str) -> Response<Body> {
    handle(app, post_json(PATH, &json!({"refresh": refresh}), &[])).await
}

/// Both token cookies deleted, with the attributes they were set with.
fn assert_cookies_deleted(response: &Response<Body>, secure: bool) {
    assert_eq!(set_cookies(response).len(), 2, "{:?}", set_cookies(response));
    for name in ["my-app-auth", "my-refresh-token"] {
        let cookie = set_cookie(response, name).unwrap_or_else(|| panic!("{name} not deleted"));
        assert!(cookie.starts_with(&format!("{name}=;")), "{cookie}");
        let attributes = cookie_attributes(&cookie);
        for wanted in ["Max-Age=0", "Path=/", "SameSite=Lax", "HttpOnly"] {
            assert!(attributes.contains(&wanted), "{cookie} lacks {wanted}");
        }
        assert_eq!(attributes.contains(&"Secure"), secure, "{cookie}");
        assert!(
            attributes.iter().any(|attribute| attribute.starts_with("Expires=")),
            "{cookie}"
        );
    }
}

/// Logout's 401: no challenge (unlike every other 401), `{"detail": detail}`, the cookies deleted.
#[track_caller]
fn assert_logout_refused(response: &Response<Body>, detail: &str) {
    assert_eq!(response.status(), 401);
    assert_security_headers(response);
    assert!(
        header(response, "www-authenticate").is_none(),
        "logout 401s carry no challenge"
    );
    assert_eq!(body_json(response), json!({"detail": detail}));
    assert_cookies_deleted(response, true);
}

#[tokio::test]
async fn logout_ends_the_session_and_deletes_both_cookies() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert_eq!(access_denial(&app, &tokens.access).await, None);
    let response = logout_with(&app, &tokens.refresh).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert!(header(&response, "www-authenticate").is_none());
    assert_eq!(body_json(&response), json!({"detail": LOGGED_OUT}));
    assert_cookies_deleted(&response, true);
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_revokes_the_sessions_access_tokens_at_once() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let now = shared::now_unix();
    let another_access = app
        .tokens
        .issue(TokenKind::Access, user_id, &tokens.session_id, random_id(), now)
        .unwrap();
    assert_eq!(logout_with(&app, &tokens.refresh).await.status(), 200);
    assert_eq!(
        access_denial(&app, &tokens.access).await,
        Some(token_not_valid("Token is invalid"))
    );
    assert_eq!(
        access_denial(&app, &another_access.token).await,
        Some(token_not_valid("Token is invalid"))
    );
}

#[tokio::test]
async fn logout_leaves_the_users_other_sessions_alone() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let other = start_session(&app, user_id).await;
    assert_eq!(logout_with(&app, &tokens.refresh).await.status(), 200);
    assert_eq!(access_denial(&app, &other.access).await, None);
    assert!(!app.store.session(user_id, &other.session_id).unwrap().revoked);
    assert_eq!(logout_with(&app, &other.refresh).await.status(), 200);
}

#[tokio::test]
async fn logout_reads_the_refresh_cookie_when_the_body_has_no_key() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let cookie = format!("my-app-auth={}; my-refresh-token={}", tokens.access, tokens.refresh);
    let response = handle(&app, event("POST", PATH, &[("cookie", &cookie)], None)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response), json!({"detail": LOGGED_OUT}));
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_reads_the_cookie_when_the_body_key_is_null() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let cookie = format!("my-refresh-token={}", tokens.refresh);
    let response = handle(&app, post_json(PATH, &json!({"refresh": null}), &[("cookie", &cookie)])).await;
    assert_eq!(response.status(), 200);
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_answers_without_the_trailing_slash_too() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let response = handle(
        &app,
        post_json("/account/logout", &json!({"refresh": tokens.refresh}), &[]),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_cookies_deleted(&response, true);
}

#[tokio::test]
async fn logout_twice_says_the_token_is_blacklisted() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    assert_eq!(logout_with(&app, &tokens.refresh).await.status(), 200);
    assert_logout_refused(&logout_with(&app, &tokens.refresh).await, "Token is blacklisted");
}

#[tokio::test]
async fn logout_with_a_spent_refresh_token_is_blacklisted_and_ends_the_session() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    rotate_refresh(&app, user_id, &tokens.session_id, &tokens.refresh).await;
    app.store.age_rotation(user_id, &tokens.session_id, 31);
    assert_logout_refused(&logout_with(&app, &tokens.refresh).await, "Token is blacklisted");
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_with_the_previous_token_within_the_reuse_interval_ends_the_session() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    rotate_refresh(&app, user_id, &tokens.session_id, &tokens.refresh).await;
    assert_eq!(logout_with(&app, &tokens.refresh).await.status(), 200);
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_ends_an_inactive_users_session_so_reactivation_does_not_revive_it() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.set_active(user_id, false);
    let response = logout_with(&app, &tokens.refresh).await;
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
    app.store.set_active(user_id, true);
    assert_logout_refused(&logout_with(&app, &tokens.refresh).await, "Token is blacklisted");
    let request = event(
        "GET",
        "/account/mypage/",
        &[("authorization", &bearer(&tokens.access))],
        None,
    );
    assert!(
        authenticate(&app, &request).await.is_err(),
        "the access token stays dead"
    );
}

#[tokio::test]
async fn logout_without_a_refresh_token_says_it_was_not_included() {
    let app = app();
    let detail = "Refresh token was not included in request data.";
    assert_logout_refused(&handle(&app, post_json(PATH, &json!({}), &[])).await, detail);
    assert_logout_refused(&handle(&app, event("POST", PATH, &[], None)).await, detail);
    assert_logout_refused(
        &handle(&app, event("POST", PATH, &[("cookie", "my-app-auth=abc")], None)).await,
        detail,
    );
}

#[tokio::test]
async fn logout_refuses_garbage_and_forged_tokens_as_invalid() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    for token in [
        "garbage".to_owned(),
        foreign_token(TokenKind::Refresh, user_id, &tokens.session_id),
        unsigned_copy(&tokens.refresh),
    ] {
        assert_logout_refused(&logout_with(&app, &token).await, "Token is invalid");
    }
    let response = handle(&app, post_json(PATH, &json!({"refresh": 12}), &[])).await;
    assert_logout_refused(&response, "Token is invalid");
    assert!(
        !app.store.session(user_id, &tokens.session_id).unwrap().revoked,
        "forgeries revoke nothing"
    );
}

#[tokio::test]
async fn logout_refuses_an_access_token_as_the_wrong_type() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert_logout_refused(&logout_with(&app, &tokens.access).await, "Token has wrong type");
    assert!(!app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_refuses_an_expired_refresh_token() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let expired = expired_token(&app, TokenKind::Refresh, user_id, &tokens.session_id);
    assert_logout_refused(&logout_with(&app, &expired).await, "Token is expired");
}

#[tokio::test]
async fn logout_of_a_deleted_user_ends_the_session_left_behind() {
    // Whatever the user's state, a sound token's session is ended (as simplejwt blacklists a
    // token whose user is gone).
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.delete_user(user_id);
    assert_eq!(logout_with(&app, &tokens.refresh).await.status(), 200);
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn logout_deletes_the_cookies_on_every_answer() {
    let app = app();
    let text_plain = event("POST", PATH, &[("content-type", "text/plain")], Some("x"));
    let answers = [
        (handle(&app, text_plain).await, 415),
        (handle(&app, event("GET", PATH, &[], None)).await, 405),
        (handle(&app, event("OPTIONS", PATH, &[], None)).await, 200),
        (
            handle(&app, post_json("/account/elsewhere/", &json!({}), &[])).await,
            404,
        ),
    ];
    for (response, status) in answers {
        assert_eq!(response.status(), status);
        assert_cookies_deleted(&response, true);
    }
}

#[tokio::test]
async fn logout_deletes_insecure_cookies_when_cookies_are_not_secure() {
    let app = app_with(&[("COOKIE_SECURE", "false")]);
    let (_, tokens) = joined(&app).await;
    let response = logout_with(&app, &tokens.refresh).await;
    assert_eq!(response.status(), 200);
    assert_cookies_deleted(&response, false);
}

#[tokio::test]
async fn logout_refuses_other_media_types_with_415() {
    let headers = [("content-type", "text/plain")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("refresh=x"))).await;
    assert_eq!(response.status(), 415);
    assert_security_headers(&response);
    assert_eq!(
        body_json(&response),
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
}

#[tokio::test]
async fn logout_answers_503_with_retry_after_when_the_store_is_down() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    app.store.set_unavailable(true);
    let response = logout_with(&app, &tokens.refresh).await;
    assert_unavailable(&response);
    assert_cookies_deleted(&response, true);
}

#[tokio::test]
async fn logout_follows_the_route_conventions() {
    let app = app();
    let foreign = ["/account/login/", "/account/logout/all", "/account/logoutx"];
    assert_post_route_conventions(|request| handle(&app, request), PATH, "Logout", &foreign).await;
}

#[tokio::test]
async fn a_logout_is_recorded_as_the_users_own_act() {
    use shared::store::{EventKind, EventSubject};
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert_eq!(logout_with(&app, &tokens.refresh).await.status(), 200);
    let logouts = shared::testing::recorded(&app, EventKind::Logout);
    assert_eq!(logouts.len(), 1);
    assert_eq!(
        (logouts[0].user.clone(), logouts[0].actor),
        (EventSubject::User(user_id), Some(user_id))
    );
    // A refused logout (garbage) records nothing more.
    assert_eq!(logout_with(&app, "garbage").await.status(), 401);
    assert_eq!(shared::testing::recorded(&app, EventKind::Logout).len(), 1);
}
