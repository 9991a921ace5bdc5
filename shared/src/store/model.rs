//! What the store holds and answers: users, sessions, the throttle's records, and the outcomes
//! of the store's conditional writes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A user as stored. `id` is the contract's `pk`. `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    pub date_of_birth: Option<String>,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    /// RFC 3339, UTC.
    pub date_joined: String,
    pub last_login: Option<String>,
    /// Sessions started under an older epoch are revoked.
    pub session_epoch: u64,
    /// Whether the owner of `email` followed a confirmation link (or a reset link) sent to it:
    /// allauth's verified `EmailAddress`. False for users stored before it was recorded.
    #[serde(default)]
    pub email_verified: bool,
    /// How many provider accounts are linked to the user (social login). Every link and unlink
    /// moves it in the same transaction, and an unlink is conditional on the count it read: two
    /// racing unlinks cannot both pass the "last way to sign in" check.
    #[serde(default)]
    pub social_links: u64,
}

/// Django's prefix of an unusable password (`set_unusable_password`): no password verifies
/// against such a hash. Users created by a social login have one.
pub const UNUSABLE_PASSWORD_PREFIX: &str = "!";

impl User {
    /// Whether the user has a password to sign in with (a social-only user has none).
    pub fn has_usable_password(&self) -> bool {
        !self.password_hash.starts_with(UNUSABLE_PASSWORD_PREFIX)
    }
}

/// A provider account linked to a user: allauth's `SocialAccount` (`id`, `provider`, `uid`,
/// `last_login`, `date_joined`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialLink {
    pub id: u64,
    pub user_id: u64,
    /// The configured provider name (`google`, `kakao`, `naver`, ...).
    pub provider: String,
    /// The provider's id of the account (`sub`, Kakao's and Naver's `id`).
    pub uid: String,
    /// RFC 3339, UTC.
    pub date_joined: String,
    pub last_login: String,
}

/// A link about to be made: the store assigns its id.
#[derive(Debug, Clone)]
pub struct NewSocialLink {
    pub provider: String,
    pub uid: String,
    pub at: String,
}

impl NewSocialLink {
    /// The link as first stored: `id` assigned by the store, joined and last used now.
    pub fn into_link(self, id: u64, user_id: u64) -> SocialLink {
        SocialLink {
            id,
            user_id,
            provider: self.provider,
            uid: self.uid,
            date_joined: self.at.clone(),
            last_login: self.at,
        }
    }
}

/// The outcome of linking a provider account to an existing user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked(SocialLink),
    /// The provider account was already linked to this very user (a retried connect).
    AlreadyLinked(SocialLink),
    /// The provider account is linked to another user (their id).
    TakenBy(u64),
    /// The user is gone, inactive or at another epoch than the one read: nothing written.
    UserChanged,
}

/// The outcome of creating a user with a link (a first social login).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // made once per sign-up
pub enum SocialRegistration {
    Created(User, SocialLink),
    EmailTaken,
    /// A racing first login of the same provider account won.
    LinkTaken,
}

/// What join (or the admin tool) supplies for a new user; the store assigns the id.
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    pub date_of_birth: Option<String>,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub joined_at: String,
}

impl NewUser {
    /// The user as first stored under `id`: active, at epoch 0, logged in now if a first session
    /// starts with it, no link counted yet.
    pub fn into_user(self, id: u64, logged_in: bool, email_verified: bool) -> User {
        User {
            id,
            email: self.email,
            password_hash: self.password_hash,
            first_name: self.first_name,
            last_name: self.last_name,
            gender: self.gender,
            date_of_birth: self.date_of_birth,
            is_active: true,
            is_staff: self.is_staff,
            is_superuser: self.is_superuser,
            last_login: logged_in.then(|| self.joined_at.clone()),
            date_joined: self.joined_at,
            session_epoch: 0,
            email_verified,
            social_links: 0,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("is_active", &self.is_active)
            .field("session_epoch", &self.session_epoch)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// What a profile update (PUT or PATCH of the user route) changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<String>,
    /// `Some(None)` clears the date.
    pub date_of_birth: Option<Option<String>>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        *self == ProfileChanges::default()
    }

    /// The changes applied to `user`: what the store writes, in one place.
    pub fn apply_to(&self, user: &mut User) {
        if let Some(first_name) = &self.first_name {
            user.first_name.clone_from(first_name);
        }
        if let Some(last_name) = &self.last_name {
            user.last_name.clone_from(last_name);
        }
        if let Some(gender) = &self.gender {
            user.gender.clone_from(gender);
        }
        if let Some(date_of_birth) = &self.date_of_birth {
            user.date_of_birth.clone_from(date_of_birth);
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: u64,
    /// The refresh token of this family that has not been spent yet.
    pub refresh_jti: String,
    /// When `refresh_jti` was issued (its `iat`): the token can be signed again, byte for byte.
    #[serde(default)]
    pub refresh_issued_at: i64,
    /// The refresh token spent to mint `refresh_jti`, if any (the reuse interval's grace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_jti: Option<String>,
    pub revoked: bool,
    pub epoch: u64,
    /// Unix seconds after which no token of the session can be valid (also the TTL).
    pub expires_at: i64,
    /// Unix seconds: when the session started (login or join). 0 on sessions started before
    /// this was recorded.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds: the last refresh that wrote the session (its start at first). See
    /// [`Session::last_used`].
    #[serde(default)]
    pub last_used_at: i64,
    /// A short label of the device that started the session (`crate::http::device`), from its
    /// `User-Agent`: at most 64 characters, no control characters. Empty when unknown.
    #[serde(default)]
    pub device: String,
    /// The client's address when the session started, as API Gateway saw the connection
    /// (never a header a client can write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl Session {
    /// Whether nothing has ended the session: not revoked, not expired (checked here, as TTL
    /// deletes late), and started under `user`'s current epoch (no password change or
    /// revoke-others since) when the user is known. The one rule behind
    /// [`SessionView::session_in_force`] and the sessions list.
    pub fn in_force(&self, user: Option<&User>, now: i64) -> bool {
        !self.revoked && self.expires_at > now && user.is_none_or(|user| user.session_epoch == self.epoch)
    }

    /// Unix seconds: when the session started (its login). Sessions from before start times were
    /// recorded count from their current refresh token's issue.
    pub fn started_at(&self) -> i64 {
        if self.created_at > 0 {
            self.created_at
        } else {
            self.refresh_issued_at
        }
    }

    /// Unix seconds of the session's last use that was written down: the later of its last
    /// refresh (`last_used_at`) and its current refresh token's issue (every rotation reissues
    /// it, and sessions from before `last_used_at` have only that).
    pub fn last_used(&self) -> i64 {
        self.last_used_at.max(self.refresh_issued_at)
    }
}

/// Where a session is started from: what its user sees in the sessions list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    /// The device label (`crate::http::device::label`).
    pub device: String,
    /// The client's IP address from the API Gateway request context.
    pub ip: Option<String>,
}

/// A session being started.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub refresh_jti: String,
    pub refresh_issued_at: i64,
    pub expires_at: i64,
    pub origin: SessionOrigin,
}

impl NewSession {
    /// The session as stored when it starts under `epoch`: created and last used when its
    /// first refresh token was issued.
    pub fn start(self, user_id: u64, epoch: u64) -> Session {
        Session {
            id: self.id,
            user_id,
            refresh_jti: self.refresh_jti,
            refresh_issued_at: self.refresh_issued_at,
            previous_jti: None,
            revoked: false,
            epoch,
            expires_at: self.expires_at,
            created_at: self.refresh_issued_at,
            last_used_at: self.refresh_issued_at,
            device: self.origin.device,
            ip: self.origin.ip,
        }
    }
}

/// The refresh token replacing the presented one, and the session's new expiry.
#[derive(Debug, Clone)]
pub struct NextRefresh {
    pub jti: String,
    pub issued_at: i64,
    /// Unix seconds: covers the new refresh token and the access tokens it can mint.
    pub session_expires_at: i64,
}

/// The outcome of spending a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Spent: the session's unspent token is now the next one.
    Rotated,
    /// Another request spent it first (or the session was revoked): the session as it is
    /// now, read by the failed write itself; `None` if it is gone.
    Overtaken(Option<Session>),
    /// The user changed since the refresh read them, and nothing was written: a password change,
    /// reset or revoke-others moved their epoch (`Revoked`), or they were deactivated or deleted
    /// (`NoActiveUser`). No token may come out of such a refresh, even one other services would
    /// take for an hour.
    UserChanged(SessionProblem),
}

/// A user and one of their sessions, read together (one round trip).
#[derive(Debug, Clone, Default)]
pub struct SessionView {
    pub user: Option<User>,
    pub session: Option<Session>,
}

/// Why a token's session does not let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProblem {
    /// Logged out, revoked for reuse, replaced by a password change, or expired.
    Revoked,
    /// The user is gone or inactive.
    NoActiveUser,
}

impl SessionView {
    /// The live user and session, or why not. Checks the session first, as simplejwt checks
    /// the blacklist before the user; `now` guards against TTL deleting late.
    pub fn live(&self, now: i64) -> Result<(&User, &Session), SessionProblem> {
        let session = self.session_in_force(now)?;
        match &self.user {
            Some(user) if user.is_active => Ok((user, session)),
            _ => Err(SessionProblem::NoActiveUser),
        }
    }

    /// The session, if nothing has ended it — whatever the state of its user: logout ends
    /// the session of an inactive user too, so reactivation does not revive it.
    pub fn session_in_force(&self, now: i64) -> Result<&Session, SessionProblem> {
        match &self.session {
            Some(session) if session.in_force(self.user.as_ref(), now) => Ok(session),
            _ => Err(SessionProblem::Revoked),
        }
    }
}

/// The outcome of creating a user.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // made once per join: boxing would buy nothing
pub enum Registration {
    Created(User),
    EmailTaken,
}

/// The password-guess throttle's record of one email (registered or not): see
/// `crate::auth::throttle` for the rules. A missing record is the default (version 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)] // records written before versions existed read as version 0
pub struct ThrottleRecord {
    /// Password checks counted and not yet forgotten (reserved before each check).
    pub failures: u32,
    /// Unix seconds until which checks are refused (0: not locked).
    pub locked_until: i64,
    /// Unix seconds at which the record is forgotten (also its DynamoDB TTL).
    pub expires_at: i64,
    /// Bumped by every write; each write is conditional on the version it read.
    pub version: u64,
    /// The reservation that wrote this version, so a retried write recognises itself.
    pub written_by: String,
}

/// The mails an address can be sent, each kind counted on its own (`EmailStore::take_mail_quota`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailPurpose {
    PasswordReset,
    EmailConfirmation,
}

impl MailPurpose {
    /// The sort key of an address's quota item of this purpose (both stores key on it).
    pub fn sort_key(self) -> &'static str {
        match self {
            MailPurpose::PasswordReset => "RESET",
            MailPurpose::EmailConfirmation => "CONFIRM",
        }
    }
}

/// How long a mail quota's window lasts: the limits are per hour.
pub const MAIL_QUOTA_WINDOW_SECONDS: i64 = 3600;

/// How often at most a session's `last_used_at` is written by a refresh that writes nothing else.
pub const TOUCH_INTERVAL_SECONDS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    fn view(revoked: bool, expires_at: i64, active: bool, user_epoch: u64) -> SessionView {
        SessionView {
            user: Some(User {
                id: 1,
                email: "a@example.com".into(),
                password_hash: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                gender: String::new(),
                date_of_birth: None,
                is_active: active,
                is_staff: false,
                is_superuser: false,
                date_joined: String::new(),
                last_login: None,
                session_epoch: user_epoch,
                email_verified: false,
                social_links: 0,
            }),
            session: Some(Session {
                id: "s".into(),
                user_id: 1,
                refresh_jti: "j".into(),
                refresh_issued_at: 0,
                previous_jti: None,
                revoked,
                epoch: 0,
                expires_at,
                created_at: 0,
                last_used_at: 0,
                device: String::new(),
                ip: None,
            }),
        }
    }

    #[test]
    fn a_session_is_live_only_when_every_condition_holds() {
        assert!(view(false, 100, true, 0).live(50).is_ok());
        assert_eq!(view(true, 100, true, 0).live(50).unwrap_err(), SessionProblem::Revoked);
        assert_eq!(
            view(false, 100, true, 0).live(100).unwrap_err(),
            SessionProblem::Revoked
        );
        assert_eq!(
            view(false, 100, false, 0).live(50).unwrap_err(),
            SessionProblem::NoActiveUser
        );
        assert_eq!(view(false, 100, true, 1).live(50).unwrap_err(), SessionProblem::Revoked);
        assert_eq!(SessionView::default().live(50).unwrap_err(), SessionProblem::Revoked);
    }

    #[test]
    fn the_last_use_is_the_later_of_the_last_refresh_and_the_current_tokens_issue() {
        let mut session = view(false, 100, true, 0).session.expect("a session");
        (session.refresh_issued_at, session.last_used_at) = (50, 0);
        assert_eq!(session.last_used(), 50, "written before last_used_at existed");
        session.last_used_at = 80;
        assert_eq!(session.last_used(), 80, "touched since (rotation off)");
    }

    #[test]
    fn an_inactive_users_session_is_still_in_force_until_ended() {
        assert!(view(false, 100, false, 0).session_in_force(50).is_ok());
        let mut gone = view(false, 100, true, 0);
        gone.user = None;
        assert!(gone.session_in_force(50).is_ok());
        assert!(view(true, 100, false, 0).session_in_force(50).is_err());
        assert!(
            view(false, 100, false, 1).session_in_force(50).is_err(),
            "password changed"
        );
        assert!(view(false, 100, false, 0).session_in_force(100).is_err(), "expired");
    }
}
