//! Handler tests for POST /account/token/refresh/ over the memory store (contract §2, §4 refresh, §5).

use std::sync::Arc;

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use refresh::handle;
use shared::App;
use shared::store::{MemoryStore, SessionStore};
use shared::testing::{
    Meanwhile, SessionTokens, access_denial, app, app_with, assert_400, assert_401, assert_post_route_conventions,
    assert_security_headers, assert_token_cookie, assert_token_refused, assert_unavailable, body_json, event,
    expired_token, foreign_token, header, interfered, joined, post_json, set_cookie, set_cookies, start_session,
    unsigned_copy,
};
use shared::tokens::TokenKind;

const PATH: &str = "/account/token/refresh/";
/// `REFRESH_REUSE_INTERVAL_SECONDS`'s default.
const REUSE_INTERVAL: i64 = 30;

async fn refresh_with(app: &App<MemoryStore>, refresh: &str) -> Response<Body> {
    handle(app, post_json(PATH, &json!({"refresh": refresh}), &[])).await
}

async fn refresh_by_cookie(app: &App<MemoryStore>, refresh: &str) -> Response<Body> {
    let cookie = format!("my-refresh-token={refresh}");
    handle(app, event("POST", PATH, &[("cookie", &cookie)], None)).await
}

fn keys(body: &Value) -> Vec<&str> {
    body.as_object().unwrap().keys().map(String::as_str).collect()
}

fn text<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing from {body}"))
}

/// `2026-11-26T16:17:24.000000Z` parsed to Unix seconds, checking the reference's shape.
fn expiration_seconds(text: &str) -> i64 {
    assert!(text.ends_with(".000000Z") && text.len() == 27, "{text}");
    OffsetDateTime::parse(text, &Rfc3339).unwrap().unix_timestamp()
}

#[tokio::test]
async fn refresh_rotates_and_answers_new_tokens_with_their_expirations() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let response = refresh_with(&app, &tokens.refresh).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert!(header(&response, "www-authenticate").is_none());
    let body = body_json(&response);
    assert_eq!(
        keys(&body),
        ["access", "refresh", "access_expiration", "refresh_expiration"]
    );

    let access = app.tokens.verify(text(&body, "access"), TokenKind::Access).unwrap();
    let refresh = app.tokens.verify(text(&body, "refresh"), TokenKind::Refresh).unwrap();
    assert_eq!((access.user_id, refresh.user_id), (user_id, user_id));
    assert_eq!(access.session_id, tokens.session_id, "the session goes on");
    assert_eq!(refresh.session_id, tokens.session_id);
    assert_ne!(text(&body, "refresh"), tokens.refresh);
    assert_eq!(expiration_seconds(text(&body, "access_expiration")), access.expires_at);
    assert_eq!(
        expiration_seconds(text(&body, "refresh_expiration")),
        refresh.expires_at
    );
    assert_eq!(refresh.expires_at - access.expires_at, 86400 - 3600);
    assert_eq!(
        app.store.session(user_id, &tokens.session_id).unwrap().refresh_jti,
        refresh.jti
    );

    assert_eq!(set_cookies(&response).len(), 2);
    assert_token_cookie(&response, "my-app-auth", text(&body, "access"), "Max-Age=3600");
    assert_token_cookie(&response, "my-refresh-token", text(&body, "refresh"), "Max-Age=86400");
    assert_eq!(access_denial(&app, text(&body, "access")).await, None);
}

#[tokio::test]
async fn the_rotated_refresh_token_rotates_again() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let first = body_json(&refresh_with(&app, &tokens.refresh).await);
    let second = refresh_with(&app, text(&first, "refresh")).await;
    assert_eq!(second.status(), 200);
    assert_ne!(text(&body_json(&second), "refresh"), text(&first, "refresh"));
}

#[tokio::test]
async fn a_spent_refresh_token_after_the_reuse_interval_is_blacklisted_and_revokes_the_whole_session() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let rotated = body_json(&refresh_with(&app, &tokens.refresh).await);
    let (new_access, new_refresh) = (text(&rotated, "access"), text(&rotated, "refresh"));
    assert_eq!(access_denial(&app, new_access).await, None);
    app.store.age_rotation(user_id, &tokens.session_id, REUSE_INTERVAL + 1);

    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
    assert_token_refused(&refresh_with(&app, new_refresh).await, "Token is blacklisted");
    assert!(
        access_denial(&app, new_access).await.is_some(),
        "the session's access tokens die too"
    );
    assert!(access_denial(&app, &tokens.access).await.is_some());
}

#[tokio::test]
async fn within_the_reuse_interval_the_previous_token_gets_the_familys_current_token() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let rotated = body_json(&refresh_with(&app, &tokens.refresh).await);

    let late = refresh_with(&app, &tokens.refresh).await;
    assert_eq!(late.status(), 200, "{:?}", body_json(&late));
    let late = body_json(&late);
    assert_eq!(
        text(&late, "refresh"),
        text(&rotated, "refresh"),
        "both tabs hold one token"
    );
    assert_eq!(text(&late, "refresh_expiration"), text(&rotated, "refresh_expiration"));
    assert_ne!(text(&late, "access"), text(&rotated, "access"));
    assert_eq!(access_denial(&app, text(&late, "access")).await, None);
    let current = app
        .tokens
        .verify(text(&rotated, "refresh"), TokenKind::Refresh)
        .unwrap();

    // At the interval's last second, still the family's current token.
    app.store.age_rotation(user_id, &tokens.session_id, REUSE_INTERVAL);
    let last = body_json(&refresh_with(&app, &tokens.refresh).await);
    let last = app.tokens.verify(text(&last, "refresh"), TokenKind::Refresh).unwrap();
    assert_eq!(last.jti, current.jti);
    let session = app.store.session(user_id, &tokens.session_id).unwrap();
    assert!(!session.revoked);
    assert_eq!(session.refresh_jti, current.jti, "the family did not fork");
    // The family goes on from its current token; the one spent before is theft now.
    let next = body_json(&refresh_with(&app, text(&rotated, "refresh")).await);
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
    assert_token_refused(
        &refresh_with(&app, text(&next, "refresh")).await,
        "Token is blacklisted",
    );
}

#[tokio::test]
async fn a_token_older_than_the_previous_one_is_theft_at_once() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let second = body_json(&refresh_with(&app, &tokens.refresh).await);
    assert_eq!(refresh_with(&app, text(&second, "refresh")).await.status(), 200);
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn with_a_zero_reuse_interval_a_spent_token_is_theft_at_once() {
    let app = app_with(&[("REFRESH_REUSE_INTERVAL_SECONDS", "0")]);
    let (user_id, tokens) = joined(&app).await;
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
    assert!(app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn reuse_revokes_only_the_session_it_belongs_to() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let other = start_session(&app, user_id).await;
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    app.store.age_rotation(user_id, &tokens.session_id, REUSE_INTERVAL + 1);
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 401);
    assert_eq!(access_denial(&app, &other.access).await, None);
    assert_eq!(refresh_with(&app, &other.refresh).await.status(), 200);
}

#[tokio::test]
async fn without_rotation_the_same_refresh_token_works_again() {
    let app = app_with(&[("ROTATE_REFRESH_TOKENS", "false")]);
    let (user_id, tokens) = joined(&app).await;
    for _ in 0..2 {
        let response = refresh_with(&app, &tokens.refresh).await;
        assert_eq!(response.status(), 200);
        let body = body_json(&response);
        assert_eq!(
            keys(&body),
            ["access", "access_expiration"],
            "no refresh key without rotation"
        );
        let access = app.tokens.verify(text(&body, "access"), TokenKind::Access).unwrap();
        assert_eq!(
            (access.user_id, access.session_id.as_str()),
            (user_id, tokens.session_id.as_str())
        );
        assert_eq!(expiration_seconds(text(&body, "access_expiration")), access.expires_at);
        assert_eq!(set_cookies(&response).len(), 1, "only the access cookie is set");
        assert_token_cookie(&response, "my-app-auth", text(&body, "access"), "Max-Age=3600");
        assert!(set_cookie(&response, "my-refresh-token").is_none());
        assert_eq!(access_denial(&app, text(&body, "access")).await, None);
    }
    assert!(!app.store.session(user_id, &tokens.session_id).unwrap().revoked);
}

#[tokio::test]
async fn refresh_reads_the_cookie_when_the_body_has_no_key() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let response = refresh_by_cookie(&app, &tokens.refresh).await;
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    assert_eq!(
        app.tokens
            .verify(text(&body, "access"), TokenKind::Access)
            .unwrap()
            .user_id,
        user_id
    );
    // The cookie brought the token: the next one goes to the cookie alone, out of scripts' reach.
    assert!(body.get("refresh").is_none(), "{body}");
    assert!(body.get("refresh_expiration").is_none(), "{body}");
    let next = set_cookie(&response, "my-refresh-token")
        .and_then(|cookie| cookie.strip_prefix("my-refresh-token=").map(str::to_owned))
        .and_then(|rest| rest.split(';').next().map(str::to_owned))
        .expect("the rotated token in its cookie");
    // An empty JSON object with the cookie works the same way.
    let cookie = format!("other=1; my-refresh-token={next}");
    let request = post_json(PATH, &json!({}), &[("cookie", &cookie)]);
    let response = handle(&app, request).await;
    assert_eq!(response.status(), 200);
    assert!(body_json(&response).get("refresh").is_none());
}

#[tokio::test]
async fn the_body_key_wins_over_the_cookie() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let cookie = format!("my-refresh-token={}", tokens.refresh);
    let request = post_json(PATH, &json!({"refresh": "garbage"}), &[("cookie", &cookie)]);
    assert_token_refused(&handle(&app, request).await, "Token is invalid");
}

#[tokio::test]
async fn refresh_answers_without_the_trailing_slash_too() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let request = post_json("/account/token/refresh", &json!({"refresh": tokens.refresh}), &[]);
    assert_eq!(handle(&app, request).await.status(), 200);
}

#[tokio::test]
async fn refresh_refuses_an_access_token() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    assert_token_refused(&refresh_with(&app, &tokens.access).await, "Token has wrong type");
}

#[tokio::test]
async fn refresh_refuses_garbage_bad_signatures_and_unsigned_tokens() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let mut tampered = tokens.refresh.clone();
    tampered.push('x');
    let forged = [
        "garbage".to_owned(),
        tampered,
        foreign_token(TokenKind::Refresh, user_id, &tokens.session_id),
        unsigned_copy(&tokens.refresh),
    ];
    for token in forged {
        assert_token_refused(&refresh_with(&app, &token).await, "Token is invalid");
    }
    assert!(
        !app.store.session(user_id, &tokens.session_id).unwrap().revoked,
        "forgeries revoke nothing"
    );
}

#[tokio::test]
async fn refresh_refuses_an_expired_token() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let expired = expired_token(&app, TokenKind::Refresh, user_id, &tokens.session_id);
    assert_token_refused(&refresh_with(&app, &expired).await, "Token is expired");
}

#[tokio::test]
async fn refresh_refuses_a_token_of_a_revoked_session() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
}

#[tokio::test]
async fn refresh_refuses_a_token_of_a_logged_out_session() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
}

#[tokio::test]
async fn refresh_refuses_tokens_of_sessions_ended_by_a_password_change() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let kept = start_session(&app, user_id).await;
    assert!(
        app.store
            .change_password(user_id, &kept.session_id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
    assert_eq!(
        refresh_with(&app, &kept.refresh).await.status(),
        200,
        "the changing session lives on"
    );
}

#[tokio::test]
async fn refresh_without_a_key_or_cookie_says_none_was_found() {
    let app = app();
    assert_token_refused(
        &handle(&app, post_json(PATH, &json!({}), &[])).await,
        "No valid refresh token found.",
    );
    assert_token_refused(
        &handle(&app, event("POST", PATH, &[], None)).await,
        "No valid refresh token found.",
    );
    let unrelated = event("POST", PATH, &[("cookie", "my-app-auth=abc")], None);
    assert_token_refused(&handle(&app, unrelated).await, "No valid refresh token found.");
}

#[tokio::test]
async fn refresh_refuses_a_blank_key_with_400() {
    let response = refresh_with(&app(), "").await;
    assert_400(&response, &json!({"refresh": ["This field may not be blank."]}));
}

#[tokio::test]
async fn refresh_refuses_tokens_of_inactive_or_deleted_users() {
    // Beyond the contract's table: simplejwt's answer when the token's user is not active.
    let expected = json!({"detail": "No active account found for the given credentials", "code": "no_active_account"});
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.set_active(user_id, false);
    assert_401(&refresh_with(&app, &tokens.refresh).await, &expected);
    app.store.delete_user(user_id);
    assert_401(&refresh_with(&app, &tokens.refresh).await, &expected);
}

/// Two refreshes of one token at once, on separate threads.
async fn race_two_refreshes(app: App<MemoryStore>) -> (SessionTokens, Vec<Response<Body>>) {
    let app = Arc::new(app);
    let (_, tokens) = joined(&app).await;
    let race = || {
        let (app, refresh) = (Arc::clone(&app), tokens.refresh.clone());
        tokio::spawn(async move { refresh_with(&app, &refresh).await })
    };
    let (first, second) = (race(), race());
    let mut responses = vec![first.await.unwrap(), second.await.unwrap()];
    responses.sort_by_key(|response| response.status());
    (tokens, responses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_refreshes_racing_with_one_token_converge_on_one_refresh_token() {
    let (_, responses) = race_two_refreshes(app()).await;
    let bodies: Vec<Value> = responses.iter().map(body_json).collect();
    assert_eq!(responses[0].status(), 200, "{bodies:?}");
    assert_eq!(responses[1].status(), 200, "{bodies:?}");
    assert_eq!(text(&bodies[0], "refresh"), text(&bodies[1], "refresh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_zero_reuse_interval_two_racing_refreshes_have_exactly_one_winner() {
    let (_, mut responses) = race_two_refreshes(app_with(&[("REFRESH_REUSE_INTERVAL_SECONDS", "0")])).await;
    assert_eq!(responses[0].status(), 200);
    assert_token_refused(&responses.pop().unwrap(), "Token is blacklisted");
}

#[tokio::test]
async fn refresh_refuses_other_media_types_with_415() {
    let headers = [("content-type", "text/plain")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("refresh=x"))).await;
    assert_eq!(response.status(), 415);
    assert_eq!(
        body_json(&response),
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
}

#[tokio::test]
async fn refresh_answers_503_with_retry_after_when_the_store_is_down() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    app.store.set_unavailable(true);
    let response = refresh_with(&app, &tokens.refresh).await;
    assert_unavailable(&response);
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test]
async fn refresh_follows_the_route_conventions() {
    let app = app();
    let foreign = ["/account/token/", "/account/token/refresh/x", "/account/logout/"];
    assert_post_route_conventions(|request| handle(&app, request), PATH, "Token Refresh", &foreign).await;
}

// --- The session's last use (the sessions list's `last_used`) --------------------------------

#[tokio::test]
async fn a_rotation_records_the_sessions_last_use_in_its_own_write() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.age_rotation(user_id, &tokens.session_id, 600);
    let before = app.store.session(user_id, &tokens.session_id).unwrap();
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    let after = app.store.session(user_id, &tokens.session_id).unwrap();
    assert!(after.last_used_at >= before.last_used_at + 600, "{before:?} {after:?}");
    assert_eq!(after.last_used_at, after.refresh_issued_at, "the rotation's time");
    assert_eq!(after.created_at, before.created_at, "the start stays");
}

#[tokio::test]
async fn without_rotation_the_last_use_is_written_at_most_once_a_minute() {
    let app = app_with(&[("ROTATE_REFRESH_TOKENS", "false")]);
    let (user_id, tokens) = joined(&app).await;
    let started = app.store.session(user_id, &tokens.session_id).unwrap();
    // Within the minute after the last write: refreshing writes nothing.
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    assert_eq!(app.store.session(user_id, &tokens.session_id).unwrap(), started);
    // A minute later: one write, then none again for a minute.
    app.store.age_rotation(user_id, &tokens.session_id, 61);
    let aged = app.store.session(user_id, &tokens.session_id).unwrap();
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    let touched = app.store.session(user_id, &tokens.session_id).unwrap();
    assert!(touched.last_used_at >= aged.last_used_at + 61, "{aged:?} {touched:?}");
    assert_eq!(touched.refresh_jti, aged.refresh_jti, "nothing else changes");
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    assert_eq!(app.store.session(user_id, &tokens.session_id).unwrap(), touched);
}

// --- What lands between the refresh's read and its write -------------------------------------

/// A refresh that read the user before a password change, a deactivation or a deletion must not
/// rotate after it: its fresh access token would be good for an hour at every other service,
/// which cannot see the revocation. The rotation is conditional on the user as it was read.
#[tokio::test]
async fn a_refresh_that_read_the_user_before_it_changed_hands_out_nothing() {
    for (meanwhile, answer) in [
        (
            Box::new(|kept_session| Meanwhile::PasswordChange { kept_session }) as Box<dyn FnOnce(String) -> Meanwhile>,
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"}),
        ),
        (
            Box::new(|_| Meanwhile::Deactivate),
            json!({"detail": "No active account found for the given credentials", "code": "no_active_account"}),
        ),
        (
            Box::new(|_| Meanwhile::Delete),
            json!({"detail": "No active account found for the given credentials", "code": "no_active_account"}),
        ),
    ] {
        let (app, user_id, tokens) = interfered(meanwhile).await;
        let before = app.store.store.session(user_id, &tokens.session_id);
        let response = handle(&app, post_json(PATH, &json!({"refresh": tokens.refresh}), &[])).await;
        assert_eq!(response.status(), 401, "{answer}");
        assert_eq!(body_json(&response), answer);
        assert!(set_cookies(&response).is_empty(), "no token, in a cookie either");
        let after = app.store.store.session(user_id, &tokens.session_id);
        assert_eq!(
            after.map(|session| session.refresh_jti),
            before.map(|session| session.refresh_jti),
            "nothing was rotated"
        );
    }
}

/// The same store without interference rotates: the test above fails for the reason it names.
#[tokio::test]
async fn without_interference_the_refresh_rotates() {
    let (app, _, tokens) = interfered(|_| Meanwhile::Deactivate).await;
    app.store.meanwhile.lock().unwrap().take();
    let response = handle(&app, post_json(PATH, &json!({"refresh": tokens.refresh}), &[])).await;
    assert_eq!(response.status(), 200);
}

// --- The session's absolute end ------------------------------------------------------------------

/// ASVS 5.0 §7.3: a session ends `MAX_SESSION_SECONDS` after its login however often it is
/// refreshed; no token of it says otherwise.
#[tokio::test]
async fn a_session_ends_its_maximum_after_the_login_however_often_refreshed() {
    let app = app_with(&[("MAX_SESSION_SECONDS", "600")]);
    let (user_id, tokens) = joined(&app).await;
    let login = app.store.session(user_id, &tokens.session_id).unwrap().created_at;
    let claims = app.tokens.verify(&tokens.refresh, TokenKind::Refresh).unwrap();
    assert_eq!(
        claims.expires_at,
        login + 600,
        "the refresh token ends with the session"
    );
    let response = refresh_with(&app, &tokens.refresh).await;
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    for (kind, token) in [
        (TokenKind::Access, text(&body, "access")),
        (TokenKind::Refresh, text(&body, "refresh")),
    ] {
        let expires = app.tokens.verify(token, kind).unwrap().expires_at;
        assert!(
            expires <= login + 600,
            "{kind:?} expires {expires}, after the session's end"
        );
    }
    // Ten minutes later, the same session is over, its token's expiry notwithstanding.
    let next = text(&body, "refresh").to_owned();
    app.store.age_session(user_id, &tokens.session_id, 600);
    let response = refresh_with(&app, &next).await;
    assert_token_refused(&response, "Token is expired");
}

/// A token minted before sessions had an absolute end (its `exp` a day after its issue) is
/// refused once its session is older than the maximum.
#[tokio::test]
async fn a_token_minted_before_the_limit_existed_is_refused_past_the_session_end() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.age_session(user_id, &tokens.session_id, 30 * 86400);
    // The access token (a day's exp) is refused too: the session decides.
    assert!(access_denial(&app, &tokens.access).await.is_some());
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is expired");
}

#[tokio::test]
async fn a_spent_token_presented_again_is_recorded_as_reuse_with_no_actor() {
    use shared::store::{EventKind, EventSubject};
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    assert_eq!(refresh_with(&app, &tokens.refresh).await.status(), 200);
    assert!(app.store.events().is_empty(), "a rotation is no security event");
    app.store.age_rotation(user_id, &tokens.session_id, REUSE_INTERVAL + 1);
    assert_token_refused(&refresh_with(&app, &tokens.refresh).await, "Token is blacklisted");
    let reuse = shared::testing::recorded(&app, EventKind::TokenReuseDetected);
    assert_eq!(reuse.len(), 1);
    assert_eq!(
        (reuse[0].user.clone(), reuse[0].actor),
        (EventSubject::User(user_id), None)
    );
}
