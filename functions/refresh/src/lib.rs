//! POST /account/token/refresh/ — a new access token for a refresh token; with rotation (the
//! default) also a new refresh token, the presented one being spent.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

use shared::auth::{LiveRefresh, RefreshUse, Standing, check_refresh, standing};
use shared::http::input::{Fields, body_object};
use shared::http::{
    ACCESS_COOKIE, Endpoint, REFRESH_COOKIE, json_response, request_cookie, serve, token_cookie, with_cookies,
};
use shared::http::{ApiError, RefreshDenied};
use shared::ids::random_id;
use shared::store::{
    EventStore, NextRefresh, Rotation, Session, SessionOrigin, SessionProblem, SessionStore, TOUCH_INTERVAL_SECONDS,
};
use shared::tokens::{Issued, TokenKind};
use shared::{App, KeyUse, now_unix};

/// It signs tokens or makes and checks mailed links: it holds the signing keys (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Sign;

pub const ENDPOINT: Endpoint = Endpoint::post("Token Refresh", "/account/token/refresh");

pub async fn handle<S: SessionStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| refresh(app, request)).await
}

/// `2026-11-26T16:17:24.000000Z`, the reference's format for expirations.
fn expiration(unix_seconds: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .unwrap_or_default()
}

async fn refresh<S: SessionStore + EventStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    // The body's key wins over the cookie.
    let by_cookie = !body.contains_key("refresh");
    let token = if !by_cookie {
        let mut fields = Fields::new(&body);
        let token = fields.string("refresh", true, false, None);
        fields.errors.into_result()?;
        token.unwrap_or_default()
    } else {
        request_cookie(request, REFRESH_COOKIE).ok_or(ApiError::Refresh(RefreshDenied::Missing))?
    };
    let live = check_refresh(app, &token, RefreshUse::Refresh, &SessionOrigin::of(request)).await?;

    let now = now_unix();
    let (user_id, session_id) = (live.token.user_id, live.session.id.as_str());
    let end = app.tokens.session_end(live.session.started_at());
    let access = app
        .tokens
        .issue_until(TokenKind::Access, user_id, session_id, random_id(), now, end)?;
    let secure = app.config.cookie_secure;
    let access_cookie = token_cookie(ACCESS_COOKIE, &access.token, app.tokens.access_lifetime, secure);
    if !app.config.rotate_refresh_tokens {
        touch(app, &live.session, now).await;
        let body = json!({"access": access.token, "access_expiration": expiration(access.expires_at)});
        return Ok(with_cookies(json_response(StatusCode::OK, &body), [access_cookie]));
    }

    let refresh = match live.standing {
        Standing::Unspent => spend(app, &live, now).await?,
        // A second tab or a retry, within the reuse interval: the family's current token.
        Standing::Previous => current_refresh_token(app, &live.session)?,
    };
    let mut body = json!({
        "access": access.token,
        "refresh": refresh.token,
        "access_expiration": expiration(access.expires_at),
        "refresh_expiration": expiration(refresh.expires_at),
    });
    if by_cookie {
        // The cookie brought the token, so only the cookie takes the next one (its expiry is
        // the cookie's): in the body any script of the page could read a long-lived token the
        // HttpOnly cookie keeps from it.
        if let Some(body) = body.as_object_mut() {
            body.remove("refresh");
            body.remove("refresh_expiration");
        }
    }
    Ok(with_cookies(
        json_response(StatusCode::OK, &body),
        [
            access_cookie,
            token_cookie(REFRESH_COOKIE, &refresh.token, app.tokens.refresh_lifetime, secure),
        ],
    ))
}

/// Without rotation a refresh writes nothing, so the session's last use (what the sessions list
/// shows) is written here — at most once a minute per session, so that refreshing stays a read.
/// A failure is logged, not answered: the refresh itself is sound.
async fn touch<S: SessionStore>(app: &App<S>, session: &Session, now: i64) {
    if now - session.last_used() < TOUCH_INTERVAL_SECONDS {
        return;
    }
    if let Err(error) = app.store.touch_session(session.user_id, &session.id, now).await {
        tracing::warn!(%error, "the session's last use was not recorded");
    }
}

/// Spends the presented (unspent) refresh token for a new one.
async fn spend<S: SessionStore>(app: &App<S>, live: &LiveRefresh, now: i64) -> Result<Issued, ApiError> {
    let (user_id, session_id) = (live.token.user_id, live.session.id.as_str());
    let end = app.tokens.session_end(live.session.started_at());
    let refresh = app
        .tokens
        .issue_until(TokenKind::Refresh, user_id, session_id, random_id(), now, end)?;
    let next = NextRefresh {
        jti: refresh.jti.clone(),
        issued_at: now,
        // No access token minted from the new refresh token outlives the session's end either.
        session_expires_at: (refresh.expires_at + app.tokens.access_lifetime).min(end),
    };
    // The session is live, so its epoch is its user's as read: the rotation holds only if the
    // user is still there, active and at it.
    let epoch = live.session.epoch;
    match app
        .store
        .rotate_refresh(user_id, session_id, &live.token.jti, epoch, &next)
        .await?
    {
        Rotation::Rotated => Ok(refresh),
        // A password change, reset, revoke-others, deactivation or deletion landed after our
        // read: the answer it would have got had it come first.
        Rotation::UserChanged(SessionProblem::Revoked) => Err(ApiError::Refresh(RefreshDenied::Blacklisted)),
        Rotation::UserChanged(SessionProblem::NoActiveUser) => Err(ApiError::Refresh(RefreshDenied::NoActiveAccount)),
        // A racing request with the same token spent it between our read and our write. Within
        // the reuse interval both get the winner's token; the family does not fork.
        Rotation::Overtaken(Some(current))
            if !current.revoked
                && standing(&current, &live.token.jti, now, app.config.refresh_reuse_interval)
                    == Some(Standing::Previous) =>
        {
            current_refresh_token(app, &current)
        }
        // Strict (interval 0), or the session ended meanwhile: the winner keeps the session.
        Rotation::Overtaken(_) => Err(ApiError::Refresh(RefreshDenied::Blacklisted)),
    }
}

/// The session's unspent refresh token, signed again: the same claims, so the same token.
fn current_refresh_token<S>(app: &App<S>, session: &Session) -> Result<Issued, ApiError> {
    Ok(app.tokens.issue_until(
        TokenKind::Refresh,
        session.user_id,
        &session.id,
        session.refresh_jti.clone(),
        session.refresh_issued_at,
        app.tokens.session_end(session.started_at()),
    )?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn expirations_use_the_reference_format() {
        assert_eq!(super::expiration(1_795_709_844), "2026-11-26T16:17:24.000000Z");
    }
}
