//! Users and sessions, behind small traits: DynamoDB in production, memory in fast tests.
//!
//! A session is one login: one refresh-token family and the access tokens minted from it. It
//! records the refresh token that may be spent next (`refresh_jti`) and the one spent last
//! (for the reuse interval), whether it was revoked, and the user's `session_epoch` when it
//! started: a password change bumps the user's epoch and carries only the changing session
//! over, so every other session is revoked in O(1).
//!
//! Each write that is already a transaction takes the security events it records (`events`):
//! they are written in it, so an event exists exactly when its action happened, at no extra
//! round trip. Other events go through [`EventStore::record_events`].

mod admin;
mod directory;
mod dynamo;
mod event;
mod memory;
mod model;

use std::future::Future;

pub use admin::{AdminChanges, AdminRefusal, EventFilter, is_active_superuser};
pub use directory::{UserListing, UserPage, UserPosition, UserQuery};
pub use dynamo::{DynamoStore, TableDefinition};
pub use event::{EventKind, EventPage, EventPosition, EventSubject, SecurityEvent};
pub use memory::MemoryStore;
pub use model::{
    LinkOutcome, MAIL_QUOTA_WINDOW_SECONDS, MailPurpose, NewSession, NewSocialLink, NewUser, NextRefresh,
    ProfileChanges, Registration, Rotation, Session, SessionOrigin, SessionProblem, SessionView, SocialLink,
    SocialRegistration, TOUCH_INTERVAL_SECONDS, ThrottleRecord, UNUSABLE_PASSWORD_PREFIX, User,
};

/// Failures of the store itself. Messages are for logs and never reach a response.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, timed out or throttled: worth retrying later (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (500).
    #[error("store failure: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Users: registration and lookup by email.
pub trait UserStore: Send + Sync {
    /// Whether a user already has this (normalised) email.
    fn email_registered(&self, email: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Creates the user, claiming the email atomically (exactly one of two racing joins wins),
    /// and starts `first_session` with it when given. `events` name the user with
    /// [`EventSubject::User`] of 0: the id is assigned here, and written into them.
    fn create_user(
        &self,
        user: NewUser,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<Registration>> + Send;

    fn find_by_email(&self, email: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// Applies `changes` to the user in one conditional write — only if the user still exists,
    /// is active and is at `expected_epoch` (the epoch the request authenticated under: no
    /// password change since) — and answers the user as stored after it, read by the write
    /// itself. `Err(Revoked)` if the epoch moved, `Err(NoActiveUser)` if the user is gone or
    /// inactive; then nothing is written, so a deactivation or a password change that landed
    /// first is never overwritten, and a deleted user is never recreated.
    fn update_profile(
        &self,
        user_id: u64,
        expected_epoch: u64,
        changes: &ProfileChanges,
    ) -> impl Future<Output = StoreResult<Result<User, SessionProblem>>> + Send;
}

/// Sessions: start, read, rotate, revoke; and the password change that revokes the others.
pub trait SessionStore: Send + Sync {
    /// Starts a session under the user's epoch and records the login time — if the user is
    /// still active and at that epoch (no password change since it was read). `false` otherwise.
    fn start_session(
        &self,
        user: &User,
        session: NewSession,
        logged_in_at: &str,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// The user and the session, read consistently in one round trip.
    fn load(&self, user_id: u64, session_id: &str) -> impl Future<Output = StoreResult<SessionView>> + Send;

    /// Spends `presented_jti` for `next` if it is still the session's unspent token, the session
    /// is not revoked, and the user still exists, is active and is at `expected_epoch` (as the
    /// refresh read them) — all in one atomic write; records `presented_jti` as the family's
    /// previous token. A retry of this very write whose first answer was lost is `Rotated` too.
    fn rotate_refresh(
        &self,
        user_id: u64,
        session_id: &str,
        presented_jti: &str,
        expected_epoch: u64,
        next: &NextRefresh,
    ) -> impl Future<Output = StoreResult<Rotation>> + Send;

    /// Revokes the session (logout, reuse detected), whichever of its refresh tokens is current.
    /// Already revoked counts as done (a retried logout, or a racing one, succeeds); `false`
    /// only if the session is gone.
    fn end_session(&self, user_id: u64, session_id: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Stores the new hash and revokes every session but `keep_session_id`, atomically, if the
    /// user is still at `expected_epoch` and the kept session is live. `false` otherwise.
    fn change_password(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: &str,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Records a use of the session at `at` (a refresh that writes nothing else: rotation off),
    /// at most once a minute: only if the session exists, is not revoked and was last used
    /// [`TOUCH_INTERVAL_SECONDS`] or more before `at`. `false` when nothing was written.
    fn touch_session(&self, user_id: u64, session_id: &str, at: i64) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// A user's sessions as a whole: listed (the sessions route), all but one revoked
/// (revoke-others), all deleted (account deletion). Every read is a Query of the user's own
/// partition, never a scan.
pub trait SessionListStore: Send + Sync {
    /// Every session item of the user, whatever its state, read consistently (all pages).
    fn list_sessions(&self, user_id: u64) -> impl Future<Output = StoreResult<Vec<Session>>> + Send;

    /// Revokes every session but `keep_session_id` by password change's mechanism without a
    /// new password: the user's epoch moves on and only the kept session is carried over, in
    /// one transaction, if the user is still at `expected_epoch` and the kept session is not
    /// revoked. `false` otherwise.
    fn revoke_other_sessions(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Deletes these sessions of the user (gone ones count as deleted).
    fn delete_sessions(&self, user_id: u64, session_ids: &[String]) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Deleting an account.
pub trait AccountStore: Send + Sync {
    /// Deletes the user, their email claim, their email's throttle record and the session
    /// `session_id` in one transaction — if the user is still active and at the epoch it was
    /// read with and that session is not revoked; then nobody can log in, every token of the
    /// user is refused (its user is gone) and the email is free. The user's other sessions are
    /// left for [`SessionListStore::delete_sessions`]: dead already, and expiring by TTL if
    /// never deleted. `Ok(Ok(()))` also when the user is already gone (a retried or racing
    /// deletion); `Err(Revoked)` when the epoch moved or the session ended, `Err(NoActiveUser)`
    /// when the user was deactivated: then nothing is deleted.
    fn delete_account(
        &self,
        user: &User,
        session_id: &str,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<Result<(), SessionProblem>>> + Send;
}

/// The throttle's records, written only by compare-and-swap.
pub trait LoginThrottleStore: Send + Sync {
    /// The email's record, read consistently (default when there is none).
    fn throttle_record(&self, email: &str) -> impl Future<Output = StoreResult<ThrottleRecord>> + Send;

    /// Writes `next` if the stored record is still at `expected_version` (0: no record).
    /// `Err` carries the record found instead — read by the failed write itself.
    fn replace_throttle_record(
        &self,
        email: &str,
        expected_version: u64,
        next: &ThrottleRecord,
    ) -> impl Future<Output = StoreResult<Result<(), ThrottleRecord>>> + Send;

    /// Forgets the email's record (after a right password).
    fn clear_throttle_record(&self, email: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Password reset and address verification.
pub trait EmailStore: Send + Sync {
    /// The user by id, read consistently.
    fn find_by_id(&self, user_id: u64) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// A password reset, in one transaction: stores `new_password_hash`, moves the user to the
    /// next epoch (every session ends), marks the address verified (the reset link reached it)
    /// and forgets the email's wrong guesses — only if the user is still active with the hash
    /// and epoch `user` was read with. So a reset token, which signs that hash, works once: of
    /// two racing confirmations exactly one writes. `false` otherwise (a retry of this very
    /// call whose first answer was lost is recognised, by its new hash, and is `true`).
    fn reset_password(
        &self,
        user: &User,
        new_password_hash: &str,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Marks the address verified if the user still has `email` and it is not verified yet;
    /// `false` when nothing was written (gone, another address, verified already).
    fn mark_email_verified(&self, user_id: u64, email: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Counts one more mail of `purpose` to `email` in the current hour if fewer than `limit`
    /// were counted; `false` (nothing counted) when the limit is reached. Unknown addresses are
    /// counted alike, so the count says nothing about accounts.
    fn take_mail_quota(
        &self,
        email: &str,
        purpose: MailPurpose,
        limit: u32,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The security-event log: events of one subject (a user, or an address no account has) in one
/// partition, newest first, each kept for the retention period (its TTL).
pub trait EventStore: Send + Sync {
    /// Records events that no transaction of an action carries (written side by side).
    fn record_events(&self, events: &[SecurityEvent]) -> impl Future<Output = StoreResult<()>> + Send;

    /// The subject's events, newest first: at most `limit`, none from before `since_ms` (past
    /// their retention, whether or not the TTL has removed them yet), starting after `after`.
    fn events_of(
        &self,
        subject: &EventSubject,
        since_ms: i64,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<EventPage>> + Send;
}

/// What staff and operators do to a user (`crate::store::admin`): each write conditional on
/// what was read (a conflict otherwise), none leaving the service without an active superuser.
pub trait AdminStore: Send + Sync {
    /// Applies `changes` to the user as `user` was read — if every field they change still
    /// holds its value in `user` and the user is at `user`'s epoch — in one transaction with
    /// `events` and the active-superuser set; a deactivation moves the epoch on (every session
    /// ends). Answers the user as stored after it.
    fn admin_update(
        &self,
        user: &User,
        changes: &AdminChanges,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<Result<User, AdminRefusal>>> + Send;

    /// Ends every session of the user (the epoch moves on) if it is still at `user`'s epoch.
    fn admin_sign_out(
        &self,
        user: &User,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<Result<(), AdminRefusal>>> + Send;

    /// Deletes the user, their email claim and throttle record in one transaction, if the user
    /// is at `user`'s epoch and standing (active, superuser) and is not the last active
    /// superuser. The sessions are left for [`SessionListStore::delete_sessions`], dead already.
    fn admin_delete(
        &self,
        user: &User,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<Result<(), AdminRefusal>>> + Send;

    /// The event log as staff read it, newest first: every subject's (DynamoDB: the
    /// `events-by-day` index, a day a Query) or one subject's, of one kind or all; at most
    /// `limit`, none before `since_ms`, strictly before `before` when given. A bounded number of
    /// reads per call: a page can come back short, with `next` where to go on.
    fn event_feed(
        &self,
        filter: &EventFilter,
        since_ms: i64,
        before: Option<&EventPosition>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<EventPage>> + Send;
}

/// The users as staff list them (`crate::store::UserQuery`), in email order.
pub trait UserDirectory: Send + Sync {
    /// At most `limit` users the query matches, from after `after`, in email order; never a
    /// scan (DynamoDB: the `users-by-email` index, at most a few index pages a call).
    fn list_users(
        &self,
        query: &UserQuery,
        after: Option<&UserPosition>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<UserPage>> + Send;
}

/// Provider accounts linked to users (social login), and the ID tokens already accepted.
pub trait SocialStore: Send + Sync {
    /// The link of a provider account, read consistently.
    fn find_social_link(
        &self,
        provider: &str,
        uid: &str,
    ) -> impl Future<Output = StoreResult<Option<SocialLink>>> + Send;

    /// Every link of the user, in id order (one Query of the user's partition).
    fn social_links_of(&self, user_id: u64) -> impl Future<Output = StoreResult<Vec<SocialLink>>> + Send;

    /// Creates the user (address verified as `email_verified` says), the link and the first
    /// session (if one starts) in one transaction: the address and the provider account are claimed together,
    /// so a user never exists without the link that created it, nor a link without its user.
    fn create_social_user(
        &self,
        user: NewUser,
        email_verified: bool,
        link: NewSocialLink,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<SocialRegistration>> + Send;

    /// Links the provider account to `user` if it is linked to nobody and the user is still
    /// active at the epoch it was read with (one transaction, which counts the link on the user).
    fn link_social_account(
        &self,
        user: &User,
        link: NewSocialLink,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<LinkOutcome>> + Send;

    /// Removes the link, if the user still has the number of links it was read with (and so
    /// the check that another way to sign in remains still holds). `false`: nothing removed.
    fn unlink_social_account(
        &self,
        user: &User,
        link: &SocialLink,
        events: &[SecurityEvent],
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Removes a link whose user is gone (deleted since), if it still names that user.
    fn forget_stale_link(&self, link: &SocialLink) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records a sign-in through the link (`last_login`).
    fn record_social_login(&self, link: &SocialLink, at: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Remembers an accepted ID token (by its digest) until `expires_at`, its own `exp`:
    /// `false` if it was accepted before, so no ID token signs anyone in twice.
    fn claim_id_token(&self, digest: &str, expires_at: i64) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Every trait: what the application holds.
pub trait Store:
    UserStore
    + SessionStore
    + SessionListStore
    + AccountStore
    + LoginThrottleStore
    + EmailStore
    + EventStore
    + UserDirectory
    + AdminStore
    + SocialStore
{
}
impl<T> Store for T where
    T: UserStore
        + SessionStore
        + SessionListStore
        + AccountStore
        + LoginThrottleStore
        + EmailStore
        + EventStore
        + UserDirectory
        + AdminStore
        + SocialStore
{
}
