//! POST /account/token/verify/ — whether a token (access or refresh) would be accepted right
//! now: 200 `{}` or the 401 saying why. Read-only: it never revokes, rotates or writes anything,
//! so a spent refresh token is refused here without the theft response refresh gives it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::auth::standing;
use shared::http::input::{Fields, body_object};
use shared::http::{ApiError, Endpoint, VerifyDenied, json_response, serve};
use shared::store::{SessionProblem, SessionStore};
use shared::tokens::{TokenFault, TokenKind};
use shared::{App, KeyUse, now_unix};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Token Verify", "/account/token/verify");

pub async fn handle<S: SessionStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| verify(app, request)).await
}

async fn verify<S: SessionStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    let token = fields.string("token", true, false, None);
    fields.errors.into_result()?;
    let token = token.ok_or(ApiError::Internal)?;

    let (kind, verified) = app.tokens.verify_any(&token).map_err(|fault| {
        ApiError::Verify(match fault {
            TokenFault::Expired => VerifyDenied::Expired,
            // Either kind is welcome, so a kind is never wrong: only unknown, and then invalid.
            TokenFault::Invalid | TokenFault::WrongType => VerifyDenied::Invalid,
        })
    })?;
    shared::logging::record_user(verified.user_id);
    // One round trip, as mypage: the user and the session together.
    let view = app.store.load(verified.user_id, &verified.session_id).await?;
    let now = now_unix();
    let (_, session) = view.live(now).map_err(|problem| {
        ApiError::Verify(match problem {
            SessionProblem::Revoked => VerifyDenied::Blacklisted,
            SessionProblem::NoActiveUser => VerifyDenied::UserNotFound,
        })
    })?;
    // Past the session's absolute end (`MAX_SESSION_SECONDS`) nothing of it is accepted, even a
    // token minted before that end existed.
    if now >= app.tokens.session_end(session.started_at()) {
        return Err(ApiError::Verify(VerifyDenied::Expired));
    }
    // A refresh token passes only while refresh would take it: the unspent one, or the previous
    // one within the reuse interval. Any other was spent; refresh would revoke the session for
    // it, verify only says no.
    if kind == TokenKind::Refresh && standing(session, &verified.jti, now, app.config.refresh_reuse_interval).is_none()
    {
        return Err(ApiError::Verify(VerifyDenied::Blacklisted));
    }
    Ok(json_response(StatusCode::OK, &json!({})))
}
