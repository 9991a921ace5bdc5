//! GET /account/sessions/ — the bearer's live sessions, newest first: when each started and was
//! last used, from which device and address, and which one is the caller's.
//! DELETE /account/sessions/{id}/ — ends one of the bearer's sessions at once: its refresh and
//! access tokens are refused from their next use on, as after logout.
//!
//! A session is one login (or join). Revoked, expired and stale-epoch sessions (ended by a
//! password change or revoke-others) are not listed: the list keeps exactly the sessions whose
//! tokens would be accepted now (`Session::in_force`, the rule authentication applies).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use shared::account::{live_sessions, session_json};
use shared::auth::authenticate;
use shared::http::{ApiError, Endpoint, json_response, no_content, serve};
use shared::security_log;
use shared::store::{EventKind, EventStore, SessionListStore, SessionOrigin, SessionStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const LIST: Endpoint = Endpoint::get("Session List", "/account/sessions");
pub const ITEM: Endpoint = Endpoint::delete("Session Instance", "/account/sessions/{id}");

pub async fn handle<S: SessionStore + SessionListStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    let cors = &app.config.cors;
    // A path naming a session is the item's; the list answers (or 404s) every other path.
    if ITEM.owns(request.raw_http_path()) {
        serve(cors, &ITEM, &request, |request| end(app, request)).await
    } else {
        serve(cors, &LIST, &request, |request| list(app, request)).await
    }
}

async fn list<S: SessionStore + SessionListStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let sessions = live_sessions(app, &authenticated.user).await?;
    let current = &authenticated.session.id;
    let body: Vec<Value> = sessions
        .iter()
        .map(|session| session_json(session, current, app.tokens.session_end(session.started_at())))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(body)))
}

async fn end<S: SessionStore + EventStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let id = ITEM.id(request).ok_or(ApiError::NotFound)?;
    // The key is in the caller's own partition: another user's session id is simply not found
    // there, and answers as an unknown one does. A session of the caller's that has already
    // ended is ended again (DELETE is idempotent: a retried request succeeds).
    if !app.store.end_session(authenticated.user.id, &id).await? {
        return Err(ApiError::NotFound);
    }
    // After the write, not beside it: an unknown id ends nothing and records nothing.
    let ended = security_log::own(
        &app.config,
        EventKind::SessionEnded,
        authenticated.user.id,
        &SessionOrigin::of(request),
    );
    let ended = security_log::with_detail(ended, "session", &id);
    security_log::record(&app.store, &[ended]).await;
    tracing::info!(current = (id == authenticated.session.id), "session ended by its user");
    Ok(no_content())
}
