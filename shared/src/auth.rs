//! Checking presented tokens against their session: bearer access tokens on protected routes,
//! refresh tokens on token/refresh and logout.

use lambda_http::Request;

use crate::App;
use crate::error::{AccessDenied, ApiError, RefreshDenied};
use crate::http::bearer_token;
use crate::now_unix;
use crate::store::{Session, SessionProblem, SessionStore, User};
use crate::token::{TokenFault, TokenKind, Verified};

/// A request's user and session, both live.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session: Session,
}

/// Authenticates `Authorization: Bearer <access>`: signature, expiry, kind, then the session
/// (not revoked, not replaced by a password change) and the user (existing, active).
pub async fn authenticate<S: SessionStore>(app: &App<S>, request: &Request) -> Result<Authenticated, ApiError> {
    let token = bearer_token(request).map_err(ApiError::Access)?;
    let verified = app.tokens.verify(token, TokenKind::Access).map_err(|fault| {
        ApiError::Access(match fault {
            TokenFault::Invalid => AccessDenied::Invalid,
            TokenFault::Expired => AccessDenied::Expired,
            TokenFault::WrongType => AccessDenied::WrongType,
        })
    })?;
    crate::logging::record_user(verified.user_id);
    let view = app.store.load(verified.user_id, &verified.session_id).await?;
    match view.live(now_unix()) {
        Ok((user, session)) => Ok(Authenticated {
            user: user.clone(),
            session: session.clone(),
        }),
        Err(SessionProblem::Revoked) => Err(ApiError::Access(AccessDenied::Invalid)),
        Err(SessionProblem::NoActiveUser) => Err(ApiError::Access(AccessDenied::UserNotFound)),
    }
}

/// A refresh token that is sound, unspent, and whose session and user are live.
#[derive(Debug, Clone)]
pub struct LiveRefresh {
    pub token: Verified,
    pub user: User,
    pub session: Session,
}

/// Checks a refresh token and its session. A token of the session that is not the session's
/// unspent one was already spent: that is reuse, so the whole session is revoked.
/// `denied` wraps refusals in the calling route's error (refresh and logout word them apart).
pub async fn check_refresh<S: SessionStore>(
    app: &App<S>,
    token: &str,
    denied: fn(RefreshDenied) -> ApiError,
) -> Result<LiveRefresh, ApiError> {
    let verified = app.tokens.verify(token, TokenKind::Refresh).map_err(|fault| {
        denied(match fault {
            TokenFault::Invalid => RefreshDenied::Invalid,
            TokenFault::Expired => RefreshDenied::Expired,
            TokenFault::WrongType => RefreshDenied::WrongType,
        })
    })?;
    crate::logging::record_user(verified.user_id);
    let view = app.store.load(verified.user_id, &verified.session_id).await?;
    let (user, session) = match view.live(now_unix()) {
        Ok(live) => live,
        Err(SessionProblem::Revoked) => return Err(denied(RefreshDenied::Blacklisted)),
        Err(SessionProblem::NoActiveUser) => return Err(denied(RefreshDenied::NoActiveAccount)),
    };
    if session.refresh_jti != verified.jti {
        tracing::warn!(
            user_id = user.id,
            "spent refresh token presented again: session revoked"
        );
        app.store.revoke_session(user.id, &session.id).await?;
        return Err(denied(RefreshDenied::Blacklisted));
    }
    Ok(LiveRefresh {
        user: user.clone(),
        session: session.clone(),
        token: verified,
    })
}
