//! Handler tests for GET /account/mypage/ (and the JSON 404 for unknown paths) over the memory
//! store (contract §1, §2, §4 mypage, §5).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use mypage::handle;
use shared::App;
use shared::ids::random_id;
use shared::store::{MemoryStore, SessionStore};
use shared::testing::{
    CHALLENGE, EMAIL, PASSWORD, app, assert_401, assert_security_headers, assert_unavailable, bearer, body_json, event,
    expired_token, foreign_token, header, join_user, joined, post_json, set_cookies, start_session, token_not_valid,
    unsigned_copy, user_inactive, user_not_found,
};
use shared::tokens::TokenKind;

const PATH: &str = "/account/mypage/";

async fn get_with(app: &App<MemoryStore>, method: &str, authorization: &str) -> Response<Body> {
    handle(app, event(method, PATH, &[("authorization", authorization)], None)).await
}

async fn mypage(app: &App<MemoryStore>, access: &str) -> Response<Body> {
    get_with(app, "GET", &bearer(access)).await
}

fn greeting(email: &str) -> Value {
    json!({"message": format!("반갑습니다, {email}님!")})
}

#[tokio::test]
async fn mypage_greets_the_bearer_in_unescaped_utf8() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let response = mypage(&app, &tokens.access).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert!(header(&response, "www-authenticate").is_none());
    assert!(set_cookies(&response).is_empty());
    assert_eq!(header(&response, "allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(body_json(&response), greeting(EMAIL));
    let text = std::str::from_utf8(response.body().as_ref()).unwrap();
    assert_eq!(
        text, "{\"message\":\"반갑습니다, user@example.com님!\"}",
        "non-ASCII is not escaped"
    );
}

#[tokio::test]
async fn mypage_uses_the_stored_email() {
    let app = app();
    let (_, tokens) = join_user(&app, " Mixed.Case@Example.COM ", PASSWORD).await;
    assert_eq!(
        body_json(&mypage(&app, &tokens.access).await),
        greeting("mixed.case@example.com")
    );
}

#[tokio::test]
async fn mypage_answers_without_the_trailing_slash_too() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    let response = handle(
        &app,
        event("GET", "/account/mypage", &[("authorization", &authorization)], None),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response), greeting(EMAIL));
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let response = get_with(&app, "HEAD", &bearer(&tokens.access)).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().as_ref().is_empty(), "HEAD has no body");
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
    let refused = handle(&app, event("HEAD", "/account/mypage", &[], None)).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.body().as_ref().is_empty());
    assert_eq!(header(&refused, "www-authenticate"), Some(CHALLENGE));
}

#[tokio::test]
async fn mypage_without_credentials_is_refused() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let expected = json!({"detail": "Authentication credentials were not provided."});
    assert_401(&handle(&app, event("GET", PATH, &[], None)).await, &expected);
    let (jwt, lower) = (format!("JWT {}", tokens.access), format!("bearer {}", tokens.access));
    for scheme in ["Basic dXNlcjpwdw==", "Token abc", &jwt, &lower] {
        assert_401(&get_with(&app, "GET", scheme).await, &expected);
    }
    // Only the Authorization header authenticates: the access cookie does not.
    let cookie = format!("my-app-auth={}", tokens.access);
    assert_401(
        &handle(&app, event("GET", PATH, &[("cookie", &cookie)], None)).await,
        &expected,
    );
}

#[tokio::test]
async fn mypage_refuses_a_malformed_authorization_header() {
    let app = app();
    let expected = json!({
        "detail": "Authorization header must contain two space-delimited values",
        "code": "bad_authorization_header",
    });
    for value in ["Bearer", "Bearer a b"] {
        assert_401(&get_with(&app, "GET", value).await, &expected);
    }
}

#[tokio::test]
async fn mypage_refuses_garbage_bad_signatures_and_unsigned_tokens() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let mut tampered = tokens.access.clone();
    tampered.push('x');
    let forged = [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        tampered,
        foreign_token(TokenKind::Access, user_id, &tokens.session_id),
        unsigned_copy(&tokens.access),
    ];
    for token in forged {
        assert_401(&mypage(&app, &token).await, &token_not_valid("Token is invalid"));
    }
}

#[tokio::test]
async fn mypage_refuses_an_expired_token() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let expired = expired_token(&app, TokenKind::Access, user_id, &tokens.session_id);
    assert_401(&mypage(&app, &expired).await, &token_not_valid("Token is expired"));
}

#[tokio::test]
async fn mypage_refuses_a_refresh_token() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    assert_401(
        &mypage(&app, &tokens.refresh).await,
        &token_not_valid("Token has wrong type"),
    );
}

#[tokio::test]
async fn mypage_refuses_a_logged_out_session_but_not_the_others() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let other = start_session(&app, user_id).await;
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    assert_401(
        &mypage(&app, &tokens.access).await,
        &token_not_valid("Token is invalid"),
    );
    assert_eq!(mypage(&app, &other.access).await.status(), 200);
}

#[tokio::test]
async fn mypage_refuses_every_access_token_of_a_revoked_session() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let later = app
        .tokens
        .issue(
            TokenKind::Access,
            user_id,
            &tokens.session_id,
            random_id(),
            shared::now_unix(),
        )
        .unwrap();
    assert_eq!(mypage(&app, &later.token).await.status(), 200);
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    for access in [&tokens.access, &later.token] {
        assert_401(&mypage(&app, access).await, &token_not_valid("Token is invalid"));
    }
}

#[tokio::test]
async fn mypage_refuses_sessions_ended_by_a_password_change_elsewhere() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let kept = start_session(&app, user_id).await;
    assert!(
        app.store
            .change_password(user_id, &kept.session_id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    assert_401(
        &mypage(&app, &tokens.access).await,
        &token_not_valid("Token is invalid"),
    );
    assert_eq!(mypage(&app, &kept.access).await.status(), 200);
}

#[tokio::test]
async fn mypage_refuses_a_token_of_an_unknown_session() {
    let app = app();
    let (user_id, _) = joined(&app).await;
    let stray = app
        .tokens
        .issue(
            TokenKind::Access,
            user_id,
            &random_id(),
            random_id(),
            shared::now_unix(),
        )
        .unwrap();
    assert_401(&mypage(&app, &stray.token).await, &token_not_valid("Token is invalid"));
}

#[tokio::test]
async fn mypage_refuses_an_inactive_user_until_reactivated() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.set_active(user_id, false);
    assert_401(&mypage(&app, &tokens.access).await, &user_inactive());
    app.store.set_active(user_id, true);
    assert_eq!(mypage(&app, &tokens.access).await.status(), 200);
}

#[tokio::test]
async fn mypage_refuses_a_deleted_user() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.delete_user(user_id);
    assert_401(&mypage(&app, &tokens.access).await, &user_not_found());
}

#[tokio::test]
async fn mypage_answers_503_with_retry_after_when_the_store_is_down() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    app.store.set_unavailable(true);
    assert_unavailable(&mypage(&app, &tokens.access).await);
}

#[tokio::test]
async fn mypage_refuses_other_methods_with_405_and_allow() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let response = handle(&app, event(method, PATH, &[("authorization", &authorization)], None)).await;
        assert_eq!(response.status(), 405, "{method}");
        assert_security_headers(&response);
        assert_eq!(header(&response, "allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(
            body_json(&response),
            json!({"detail": format!("Method \"{method}\" not allowed.")})
        );
    }
    let response = handle(&app, post_json(PATH, &json!({}), &[])).await;
    assert_eq!(body_json(&response), json!({"detail": "Method \"POST\" not allowed."}));
}

#[tokio::test]
async fn mypage_answers_options_with_its_methods() {
    for path in [PATH, "/account/mypage"] {
        let response = handle(&app(), event("OPTIONS", path, &[], None)).await;
        assert_eq!(response.status(), 200);
        assert_security_headers(&response);
        assert_eq!(header(&response, "allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(body_json(&response)["name"], "My Page");
    }
}

#[tokio::test]
async fn unknown_paths_under_account_get_a_json_404() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    let paths = [
        "/account/unknown/",
        "/account/unknown",
        "/account/",
        "/account/mypage/extra",
        "/account/my/page/",
    ];
    for path in paths {
        for method in ["GET", "POST", "OPTIONS"] {
            let response = handle(&app, event(method, path, &[("authorization", &authorization)], None)).await;
            assert_eq!(response.status(), 404, "{method} {path}");
            assert_security_headers(&response);
            assert!(header(&response, "www-authenticate").is_none());
            assert_eq!(body_json(&response), json!({"detail": "Not found."}), "{method} {path}");
        }
    }
}
