//! Checking presented tokens against their session: bearer access tokens on protected routes,
//! refresh tokens on token/refresh and logout.

use lambda_http::Request;

use crate::app::App;
use crate::clock::now_unix;
use crate::http::{AccessDenied, ApiError, RefreshDenied, bearer_token};
use crate::security_log;
use crate::store::{EventKind, EventStore, Session, SessionOrigin, SessionProblem, SessionStore, User};
use crate::tokens::{TokenFault, TokenKind, Verified};

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
    // A deactivated user's tokens say so, as simplejwt's do (before the session, which the
    // deactivation ended too, so reactivation revives none of them).
    if view.user.as_ref().is_some_and(|user| !user.is_active) {
        return Err(ApiError::Access(AccessDenied::Inactive));
    }
    let now = now_unix();
    match view.live(now) {
        // Tokens minted before sessions had an absolute end may outlive it: the session decides.
        Ok((_, session)) if now >= app.tokens.session_end(session.started_at()) => {
            Err(ApiError::Access(AccessDenied::Expired))
        }
        Ok((user, session)) => Ok(Authenticated {
            user: user.clone(),
            session: session.clone(),
        }),
        Err(SessionProblem::Revoked) => Err(ApiError::Access(AccessDenied::Invalid)),
        Err(SessionProblem::NoActiveUser) => Err(ApiError::Access(AccessDenied::UserNotFound)),
    }
}

/// Authenticates the bearer as [`authenticate`] does, then requires an active staff user, as
/// read from the store now (never from a claim in the token): anyone else gets DRF's 403 — a
/// user who is not staff, and one deactivated or deleted since their token was issued. An
/// anonymous or refused token gets the 401 every protected route answers.
pub async fn authenticate_staff<S: SessionStore>(app: &App<S>, request: &Request) -> Result<Authenticated, ApiError> {
    match authenticate(app, request).await {
        Ok(authenticated) if authenticated.user.is_staff && authenticated.user.is_active => Ok(authenticated),
        Ok(_) | Err(ApiError::Access(AccessDenied::UserNotFound | AccessDenied::Inactive)) => Err(ApiError::Forbidden),
        Err(error) => Err(error),
    }
}

/// Where a presented refresh token stands in its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The family's unspent token.
    Unspent,
    /// The token spent by the family's last rotation, presented again within the reuse
    /// interval (a second tab, a retried request): it gets the family's current state.
    Previous,
}

/// How a presented refresh token stands in `session`, or `None` if it was spent and the reuse
/// interval does not cover it: reuse, taken as theft.
pub fn standing(session: &Session, jti: &str, now: i64, reuse_interval: i64) -> Option<Standing> {
    if session.refresh_jti == jti {
        return Some(Standing::Unspent);
    }
    let previous = session.previous_jti.as_deref() == Some(jti);
    (previous && reuse_interval > 0 && now - session.refresh_issued_at <= reuse_interval).then_some(Standing::Previous)
}

/// What a refresh token is presented for: refresh needs a live user; logout ends the session
/// whatever the user's state (an inactive user's tokens must not revive on reactivation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshUse {
    Refresh,
    Logout,
}

impl RefreshUse {
    /// Refresh and logout word their refusals apart.
    fn denied(self, why: RefreshDenied) -> ApiError {
        match self {
            RefreshUse::Refresh => ApiError::Refresh(why),
            RefreshUse::Logout => ApiError::Logout(why),
        }
    }
}

/// A sound refresh token of a session in force.
#[derive(Debug, Clone)]
pub struct LiveRefresh {
    pub token: Verified,
    pub session: Session,
    pub standing: Standing,
}

/// Checks a refresh token and its session. A token of the session that is neither its unspent
/// one nor, within the reuse interval, its previous one was spent before: that is reuse, so the
/// whole session is revoked, and the reuse recorded as a security event from `origin`.
pub async fn check_refresh<S: SessionStore + EventStore>(
    app: &App<S>,
    token: &str,
    purpose: RefreshUse,
    origin: &SessionOrigin,
) -> Result<LiveRefresh, ApiError> {
    let verified = app.tokens.verify(token, TokenKind::Refresh).map_err(|fault| {
        purpose.denied(match fault {
            TokenFault::Invalid => RefreshDenied::Invalid,
            TokenFault::Expired => RefreshDenied::Expired,
            TokenFault::WrongType => RefreshDenied::WrongType,
        })
    })?;
    crate::logging::record_user(verified.user_id);
    let view = app.store.load(verified.user_id, &verified.session_id).await?;
    let now = now_unix();
    let session = match purpose {
        RefreshUse::Refresh => view.live(now).map(|(_, session)| session),
        RefreshUse::Logout => view.session_in_force(now),
    };
    let session = match session {
        Ok(session) => session,
        Err(SessionProblem::Revoked) => return Err(purpose.denied(RefreshDenied::Blacklisted)),
        Err(SessionProblem::NoActiveUser) => return Err(purpose.denied(RefreshDenied::NoActiveAccount)),
    };
    // The session's absolute end (`MAX_SESSION_SECONDS` from its login): no refresh past it,
    // whatever the token's own expiry (tokens minted before the end existed may say later).
    if now >= app.tokens.session_end(session.started_at()) {
        return Err(purpose.denied(RefreshDenied::Expired));
    }
    let Some(standing) = standing(session, &verified.jti, now, app.config.refresh_reuse_interval) else {
        tracing::warn!(
            user_id = verified.user_id,
            "spent refresh token presented again: session revoked"
        );
        // Whoever presented it may be the thief or the victim: no actor.
        let reuse = security_log::event(
            &app.config,
            EventKind::TokenReuseDetected,
            crate::store::EventSubject::User(verified.user_id),
            None,
            origin,
        );
        let (ended, ()) = tokio::join!(
            app.store.end_session(verified.user_id, &session.id),
            security_log::record(&app.store, std::slice::from_ref(&reuse))
        );
        ended?;
        return Err(purpose.denied(RefreshDenied::Blacklisted));
    };
    Ok(LiveRefresh {
        session: session.clone(),
        token: verified,
        standing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated_at(issued_at: i64) -> Session {
        Session {
            id: "s".into(),
            user_id: 1,
            refresh_jti: "r2".into(),
            refresh_issued_at: issued_at,
            previous_jti: Some("r1".into()),
            revoked: false,
            epoch: 0,
            expires_at: i64::MAX,
            created_at: 900,
            last_used_at: issued_at,
            device: String::new(),
            ip: None,
        }
    }

    #[test]
    fn the_previous_token_stands_only_within_the_reuse_interval() {
        let session = rotated_at(1000);
        assert_eq!(standing(&session, "r2", 5000, 30), Some(Standing::Unspent));
        assert_eq!(standing(&session, "r1", 1000, 30), Some(Standing::Previous));
        assert_eq!(standing(&session, "r1", 1030, 30), Some(Standing::Previous));
        assert_eq!(standing(&session, "r1", 1031, 30), None, "after the interval: theft");
        assert_eq!(standing(&session, "r1", 1000, 0), None, "0 is strict");
        assert_eq!(standing(&session, "r0", 1000, 30), None, "older than the previous one");
        let fresh = Session {
            previous_jti: None,
            ..rotated_at(1000)
        };
        assert_eq!(standing(&fresh, "r1", 1000, 30), None);
    }
}
