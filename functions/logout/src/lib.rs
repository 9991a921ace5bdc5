//! POST /account/logout/ — end the session of a refresh token: it and every access token of
//! the session stop working at once. Every answer deletes both token cookies.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use shared::auth::{RefreshUse, check_refresh};
use shared::http::input::body_object;
use shared::http::{
    ACCESS_COOKIE, Endpoint, REFRESH_COOKIE, expired_cookie, is_cross_site, json_response, request_cookie, serve,
    with_cookies,
};
use shared::http::{ApiError, RefreshDenied};
use shared::security_log;
use shared::store::{EventKind, EventStore, SessionOrigin, SessionStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Logout", "/account/logout");

pub async fn handle<S: SessionStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    let response = serve(&app.config.cors, &ENDPOINT, &request, |request| logout(app, request)).await;
    if is_cross_site(&app.config.cors, &request) {
        // Another site's page may not sign the browser out either: its cookies stay.
        return response;
    }
    let secure = app.config.cookie_secure;
    with_cookies(
        response,
        [
            expired_cookie(ACCESS_COOKIE, secure),
            expired_cookie(REFRESH_COOKIE, secure),
        ],
    )
}

async fn logout<S: SessionStore + EventStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    let token = match body.get("refresh") {
        Some(Value::String(token)) => token.trim().to_owned(),
        Some(Value::Null) | None => {
            request_cookie(request, REFRESH_COOKIE).ok_or(ApiError::Logout(RefreshDenied::Missing))?
        }
        Some(_) => return Err(ApiError::Logout(RefreshDenied::Invalid)),
    };
    let origin = SessionOrigin::of(request);
    let live = check_refresh(app, &token, RefreshUse::Logout, &origin).await?;
    let logged_out = security_log::own(&app.config, EventKind::Logout, live.token.user_id, &origin);
    let (ended, ()) = tokio::join!(
        app.store.end_session(live.token.user_id, &live.session.id),
        security_log::record(&app.store, std::slice::from_ref(&logged_out))
    );
    if !ended? {
        // Gone (expired) between our read and our write.
        return Err(ApiError::Logout(RefreshDenied::Blacklisted));
    }
    tracing::info!(user_id = live.token.user_id, "logged out");
    Ok(json_response(
        StatusCode::OK,
        &json!({"detail": "Successfully logged out."}),
    ))
}
