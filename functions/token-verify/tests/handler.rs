//! Handler tests for POST /account/token/verify/ over the memory store (contract §1, §2, and
//! issue 11: the reference's answers, and ours where it is stronger — revoked sessions, spent
//! refresh tokens and inactive users are refused — without ever writing to the store).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::App;
use shared::ids::random_id;
use shared::store::{MemoryStore, SessionStore};
use shared::testing::{
    app, app_with, assert_400, assert_401, assert_post_route_conventions, assert_security_headers,
    assert_token_refused, assert_unavailable, bearer, body_json, event, expired_token, foreign_token, header, joined,
    post_json, rotate_refresh, set_cookies, start_session, unsigned_copy, user_not_found,
};
use shared::tokens::TokenKind;
use token_verify::handle;

const PATH: &str = "/account/token/verify/";
/// `REFRESH_REUSE_INTERVAL_SECONDS`'s default.
const REUSE_INTERVAL: i64 = 30;

async fn verify_body(app: &App<MemoryStore>, body: Value) -> Response<Body> {
    handle(app, post_json(PATH, &body, &[])).await
}

async fn verify(app: &App<MemoryStore>, token: &str) -> Response<Body> {
    verify_body(app, json!({"token": token})).await
}

#[track_caller]
fn assert_valid(response: &Response<Body>) {
    assert_eq!(response.status(), 200, "{}", body_json(response));
    assert_security_headers(response);
    assert!(header(response, "www-authenticate").is_none());
    assert!(set_cookies(response).is_empty(), "verify sets no cookie");
    assert_eq!(header(response, "allow"), Some("POST, OPTIONS"));
    assert_eq!(body_json(response), json!({}));
}

#[tokio::test]
async fn a_live_access_or_refresh_token_is_valid() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    assert_valid(&verify(&app, &tokens.access).await);
    assert_valid(&verify(&app, &tokens.refresh).await);
}

#[tokio::test]
async fn verify_answers_without_the_trailing_slash_too() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let request = post_json("/account/token/verify", &json!({"token": tokens.access}), &[]);
    assert_valid(&handle(&app, request).await);
}

#[tokio::test]
async fn verify_reads_a_form_and_trims_the_token() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let form = format!("token={}", tokens.refresh);
    let request = event(
        "POST",
        PATH,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&form),
    );
    assert_valid(&handle(&app, request).await);
    assert_valid(&verify(&app, &format!("  {} \n", tokens.access)).await);
}

#[tokio::test]
async fn a_missing_blank_or_non_text_token_is_a_field_error() {
    let app = app();
    let required = json!({"token": ["This field is required."]});
    assert_400(&verify_body(&app, json!({})).await, &required);
    assert_400(&handle(&app, event("POST", PATH, &[], None)).await, &required);
    for blank in ["", "   "] {
        assert_400(
            &verify(&app, blank).await,
            &json!({"token": ["This field may not be blank."]}),
        );
    }
    assert_400(
        &verify_body(&app, json!({"token": null})).await,
        &json!({"token": ["This field may not be null."]}),
    );
    for not_text in [json!(true), json!(["a.b.c"]), json!({"token": "a.b.c"})] {
        assert_400(
            &verify_body(&app, json!({"token": not_text})).await,
            &json!({"token": ["Not a valid string."]}),
        );
    }
    // A number is text to the reference (`str(12)`), and not a token.
    assert_token_refused(&verify_body(&app, json!({"token": 12})).await, "Token is invalid");
}

#[tokio::test]
async fn only_the_body_is_read_not_the_cookies_or_the_authorization_header() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let cookie = format!("my-app-auth={}; my-refresh-token={}", tokens.access, tokens.refresh);
    let authorization = bearer(&tokens.access);
    let request = post_json(
        PATH,
        &json!({}),
        &[("cookie", &cookie), ("authorization", &authorization)],
    );
    assert_400(
        &handle(&app, request).await,
        &json!({"token": ["This field is required."]}),
    );
}

#[tokio::test]
async fn garbage_forged_and_unsigned_tokens_are_invalid() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let mut tampered = tokens.access.clone();
    tampered.push('x');
    let forged = [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        tampered,
        foreign_token(TokenKind::Access, user_id, &tokens.session_id),
        foreign_token(TokenKind::Refresh, user_id, &tokens.session_id),
        unsigned_copy(&tokens.access),
        unsigned_copy(&tokens.refresh),
    ];
    for token in forged {
        assert_token_refused(&verify(&app, &token).await, "Token is invalid");
    }
}

#[tokio::test]
async fn expired_tokens_of_either_kind_are_expired() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        let expired = expired_token(&app, kind, user_id, &tokens.session_id);
        assert_token_refused(&verify(&app, &expired).await, "Token is expired");
    }
}

/// Past its session's absolute end (`MAX_SESSION_SECONDS` after the login) no token of the
/// session verifies, even one minted before that end existed (its own `exp` a day later).
#[tokio::test]
async fn tokens_of_a_session_past_its_absolute_end_are_expired() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert_valid(&verify(&app, &tokens.access).await);
    app.store.age_session(user_id, &tokens.session_id, 30 * 86400);
    for token in [&tokens.access, &tokens.refresh] {
        assert_token_refused(&verify(&app, token).await, "Token is expired");
    }
}

#[tokio::test]
async fn tokens_of_a_logged_out_session_are_blacklisted_and_the_others_stay_valid() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let other = start_session(&app, user_id).await;
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    for token in [&tokens.access, &tokens.refresh] {
        assert_token_refused(&verify(&app, token).await, "Token is blacklisted");
    }
    assert_valid(&verify(&app, &other.access).await);
    assert_valid(&verify(&app, &other.refresh).await);
}

#[tokio::test]
async fn a_password_change_blacklists_the_other_sessions_tokens() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let kept = start_session(&app, user_id).await;
    assert!(
        app.store
            .change_password(user_id, &kept.session_id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    for token in [&tokens.access, &tokens.refresh] {
        assert_token_refused(&verify(&app, token).await, "Token is blacklisted");
    }
    assert_valid(&verify(&app, &kept.access).await);
    assert_valid(&verify(&app, &kept.refresh).await);
}

#[tokio::test]
async fn a_token_of_a_session_that_never_existed_is_blacklisted() {
    let app = app();
    let (user_id, _) = joined(&app).await;
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        let stray = app
            .tokens
            .issue(kind, user_id, &random_id(), random_id(), shared::now_unix())
            .unwrap();
        assert_token_refused(&verify(&app, &stray.token).await, "Token is blacklisted");
    }
}

/// Verify answers 200 for a refresh token exactly while refresh would take it: the unspent one,
/// and the one spent last within the reuse interval.
#[tokio::test]
async fn a_spent_refresh_token_is_valid_only_within_the_reuse_interval() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let next = rotate_refresh(&app, user_id, &tokens.session_id, &tokens.refresh).await;
    assert_valid(&verify(&app, &next).await);
    assert_valid(&verify(&app, &tokens.refresh).await);
    app.store.age_rotation(user_id, &tokens.session_id, REUSE_INTERVAL + 1);
    assert_token_refused(&verify(&app, &tokens.refresh).await, "Token is blacklisted");
    assert_valid(&verify(&app, &next).await);
}

#[tokio::test]
async fn a_token_spent_two_rotations_ago_is_blacklisted_at_once() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let second = rotate_refresh(&app, user_id, &tokens.session_id, &tokens.refresh).await;
    let third = rotate_refresh(&app, user_id, &tokens.session_id, &second).await;
    assert_token_refused(&verify(&app, &tokens.refresh).await, "Token is blacklisted");
    assert_valid(&verify(&app, &third).await);
}

/// Refresh treats a spent token as theft and ends the session; verify only reads.
#[tokio::test]
async fn verifying_a_spent_refresh_token_revokes_nothing() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let next = rotate_refresh(&app, user_id, &tokens.session_id, &tokens.refresh).await;
    app.store.age_rotation(user_id, &tokens.session_id, REUSE_INTERVAL + 1);
    let before = app.store.session(user_id, &tokens.session_id).unwrap();
    for _ in 0..3 {
        assert_token_refused(&verify(&app, &tokens.refresh).await, "Token is blacklisted");
    }
    assert_eq!(app.store.session(user_id, &tokens.session_id).unwrap(), before);
    assert!(!before.revoked);
    assert_valid(&verify(&app, &tokens.access).await);
    assert_valid(&verify(&app, &next).await);
}

#[tokio::test]
async fn with_a_zero_reuse_interval_the_previous_token_is_blacklisted_at_once() {
    let app = app_with(&[("REFRESH_REUSE_INTERVAL_SECONDS", "0")]);
    let (user_id, tokens) = joined(&app).await;
    let next = rotate_refresh(&app, user_id, &tokens.session_id, &tokens.refresh).await;
    assert_token_refused(&verify(&app, &tokens.refresh).await, "Token is blacklisted");
    assert_valid(&verify(&app, &next).await);
}

#[tokio::test]
async fn without_rotation_the_one_refresh_token_stays_valid() {
    let app = app_with(&[("ROTATE_REFRESH_TOKENS", "false")]);
    let (_, tokens) = joined(&app).await;
    for _ in 0..2 {
        assert_valid(&verify(&app, &tokens.refresh).await);
    }
}

#[tokio::test]
async fn an_inactive_users_tokens_are_refused_as_mypage_refuses_them_until_reactivated() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.set_active(user_id, false);
    for token in [&tokens.access, &tokens.refresh] {
        assert_401(&verify(&app, token).await, &user_not_found());
    }
    app.store.set_active(user_id, true);
    assert_valid(&verify(&app, &tokens.access).await);
}

#[tokio::test]
async fn a_deleted_users_tokens_are_refused_as_mypage_refuses_them() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.delete_user(user_id);
    for token in [&tokens.access, &tokens.refresh] {
        assert_401(&verify(&app, token).await, &user_not_found());
    }
}

#[tokio::test]
async fn a_revoked_session_is_told_before_an_inactive_user() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    app.store.set_active(user_id, false);
    assert_token_refused(&verify(&app, &tokens.access).await, "Token is blacklisted");
}

#[tokio::test]
async fn verify_answers_503_with_retry_after_when_the_store_is_down() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    app.store.set_unavailable(true);
    assert_unavailable(&verify(&app, &tokens.access).await);
    // A token refused on its face needs no store: still the 401.
    assert_token_refused(&verify(&app, "garbage").await, "Token is invalid");
}

#[tokio::test]
async fn bodies_are_read_by_the_contract_rules() {
    let app = app();
    let cases = [
        ("text/plain", "x", 415),
        ("application/json", "{\"token\":", 400),
        ("application/json", "[1]", 400),
    ];
    for (content_type, body, status) in cases {
        let request = event("POST", PATH, &[("content-type", content_type)], Some(body));
        let response = handle(&app, request).await;
        assert_eq!(response.status(), status, "{content_type} {body}");
        assert_security_headers(&response);
    }
    let big = format!("{{\"token\":\"{}\"}}", "a".repeat(64 * 1024));
    let request = event("POST", PATH, &[("content-type", "application/json")], Some(&big));
    assert_eq!(handle(&app, request).await.status(), 413);
}

#[tokio::test]
async fn verify_follows_the_post_route_conventions() {
    let app = app();
    assert_post_route_conventions(
        |request| handle(&app, request),
        PATH,
        "Token Verify",
        &["/account/token/verify/x", "/account/token/", "/account/token/refresh/"],
    )
    .await;
}
