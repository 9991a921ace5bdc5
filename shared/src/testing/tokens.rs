//! Tokens as a protected route receives them: the bearer value, tokens it must refuse (expired,
//! another deployment's, unsigned), the bodies it refuses them with, and what it answers a
//! given access token.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use super::events::{body_json, event};
use super::users::SessionTokens;
use crate::app::App;
use crate::store::MemoryStore;
use crate::tokens::TokenKind;

/// `Bearer <token>`, for the `Authorization` header.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A correctly signed token of `kind` that expired long ago.
pub fn expired_token(app: &App<MemoryStore>, kind: TokenKind, user_id: u64, session_id: &str) -> String {
    let issued_at = crate::clock::now_unix() - 100_000;
    app.tokens
        .issue(kind, user_id, session_id, crate::ids::random_id(), issued_at)
        .expect("signed")
        .token
}

/// A token signed with another deployment's key.
pub fn foreign_token(kind: TokenKind, user_id: u64, session_id: &str) -> String {
    let config = crate::config::Config::from_lookup(|name| {
        (name == "JWT_SIGNING_KEY").then(|| "another-deployment-signing-key-0123456789".to_owned())
    })
    .expect("test configuration is valid");
    let keys = config.token_keys();
    keys.issue(
        kind,
        user_id,
        session_id,
        crate::ids::random_id(),
        crate::clock::now_unix(),
    )
    .expect("signed")
    .token
}

/// The same claims as `token`, re-sent unsigned under `{"alg":"none","typ":"JWT"}`.
pub fn unsigned_copy(token: &str) -> String {
    // base64url of {"alg":"none","typ":"JWT"}
    const NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    format!("{NONE_HEADER}.{payload}.")
}

/// The 401 body of a protected route refusing an access token for `message` ("Token is
/// invalid", "Token is expired", "Token has wrong type"): simplejwt's `token_not_valid`.
pub fn token_not_valid(message: &str) -> Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
}

/// The 401 body for a sound token of a user who is inactive or gone.
pub fn user_not_found() -> Value {
    json!({"detail": "User not found", "code": "user_not_found"})
}

/// simplejwt's answer to a deactivated user's access token.
pub fn user_inactive() -> Value {
    json!({"detail": "User is inactive", "code": "user_inactive"})
}

/// The `Authorization` values a protected route refuses for the session `tokens` of `user_id`,
/// each with mypage's 401 body (contract §2); `None` is no header at all.
pub fn refused_authorizations(
    app: &App<MemoryStore>,
    user_id: u64,
    tokens: &SessionTokens,
) -> Vec<(Option<String>, Value)> {
    let no_credentials = json!({"detail": "Authentication credentials were not provided."});
    vec![
        (None, no_credentials.clone()),
        (Some(format!("Basic {}", tokens.access)), no_credentials),
        (
            Some("Bearer".to_owned()),
            json!({
                "detail": "Authorization header must contain two space-delimited values",
                "code": "bad_authorization_header",
            }),
        ),
        (Some(bearer("garbage")), token_not_valid("Token is invalid")),
        (
            Some(bearer(&foreign_token(TokenKind::Access, user_id, &tokens.session_id))),
            token_not_valid("Token is invalid"),
        ),
        (
            Some(bearer(&unsigned_copy(&tokens.access))),
            token_not_valid("Token is invalid"),
        ),
        (
            Some(bearer(&expired_token(
                app,
                TokenKind::Access,
                user_id,
                &tokens.session_id,
            ))),
            token_not_valid("Token is expired"),
        ),
        (Some(bearer(&tokens.refresh)), token_not_valid("Token has wrong type")),
    ]
}

/// What a protected route answers an access token: `None` when it authenticates, else the 401
/// body (the shared authentication, as mypage runs it).
pub async fn access_denial(app: &App<MemoryStore>, access: &str) -> Option<Value> {
    let request = event("GET", "/account/mypage/", &[("authorization", &bearer(access))], None);
    let error = crate::auth::authenticate(app, &request).await.err()?;
    let response: Response<Body> = error.into_response();
    Some(body_json(&response))
}
