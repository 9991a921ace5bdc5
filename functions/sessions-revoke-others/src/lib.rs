//! POST /account/sessions/revoke-others/ — ends every session of the bearer but the one making
//! the request ("sign out everywhere else"), at once: password change's mechanism without a
//! password change. The user's session epoch moves on and only the caller's session is carried
//! over, in one transaction, so every other session dies whatever their number. Answers how
//! many live sessions that ended.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::auth::authenticate;
use shared::http::input::body_object;
use shared::http::{AccessDenied, ApiError, Endpoint, json_response, serve};
use shared::security_log;
use shared::store::{EventKind, SessionListStore, SessionOrigin, SessionStore};
use shared::{App, KeyUse, now_unix};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Sessions Revoke Others", "/account/sessions/revoke-others");

pub async fn handle<S: SessionStore + SessionListStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| {
        revoke_others(app, request)
    })
    .await
}

async fn revoke_others<S: SessionStore + SessionListStore>(
    app: &App<S>,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    // No field is read, but a body is read by the rules of every POST route (415, 400, 413).
    body_object(request)?;
    let (user, current) = (&authenticated.user, &authenticated.session);
    let now = now_unix();
    let others = app
        .store
        .list_sessions(user.id)
        .await?
        .iter()
        .filter(|session| session.id != current.id && session.in_force(Some(user), now))
        .count();
    // With none live, nothing to write (nor to record): a login landing after this read is
    // ordered after it.
    if others > 0 {
        let revoked = security_log::own(
            &app.config,
            EventKind::SessionsRevoked,
            user.id,
            &SessionOrigin::of(request),
        );
        let revoked = security_log::with_detail(revoked, "count", &others.to_string());
        if !app
            .store
            .revoke_other_sessions(user.id, &current.id, user.session_epoch, std::slice::from_ref(&revoked))
            .await?
        {
            // This session was ended, or the epoch moved (a password change or another
            // revoke-others, which ended this session too), while we worked.
            return Err(ApiError::Access(AccessDenied::Invalid));
        }
        security_log::log(&[revoked]);
    }
    tracing::info!(revoked = others, "other sessions revoked");
    Ok(json_response(StatusCode::OK, &json!({"revoked": others})))
}
