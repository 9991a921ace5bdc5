//! A store that lets a change land between a handler's read of the session and its write: the
//! window in which a password change, a deactivation or a deletion must win over a refresh's
//! rotation or a profile update, which are conditional on the user as it was read.

use std::sync::Mutex;

use crate::app::App;
use crate::store::{
    EventPage, EventPosition, EventStore, EventSubject, MemoryStore, NewSession, NewUser, NextRefresh, ProfileChanges,
    Registration, Rotation, SecurityEvent, SessionProblem, SessionStore, SessionView, StoreResult, User, UserStore,
};

use super::app::{app, test_config};
use super::users::{SessionTokens, joined, start_session};

/// What lands right after the handler reads the session.
pub enum Meanwhile {
    /// The user changes the password from another session, which revokes this one.
    PasswordChange { kept_session: String },
    /// An admin deactivates the user.
    Deactivate,
    /// An admin deletes the user.
    Delete,
}

/// The memory store, with `meanwhile` done right after the next read of a session (once).
pub struct Interfering {
    /// The store underneath, to look at what was written.
    pub store: MemoryStore,
    pub user_id: u64,
    /// What is still to land; empty it for a store that does not interfere.
    pub meanwhile: Mutex<Option<Meanwhile>>,
}

impl UserStore for Interfering {
    async fn email_registered(&self, email: &str) -> StoreResult<bool> {
        self.store.email_registered(email).await
    }

    async fn create_user(
        &self,
        user: NewUser,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> StoreResult<Registration> {
        self.store.create_user(user, first_session, events).await
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.store.find_by_email(email).await
    }

    async fn update_profile(
        &self,
        user_id: u64,
        expected_epoch: u64,
        changes: &ProfileChanges,
    ) -> StoreResult<Result<User, SessionProblem>> {
        self.store.update_profile(user_id, expected_epoch, changes).await
    }
}

impl SessionStore for Interfering {
    async fn start_session(
        &self,
        user: &User,
        session: NewSession,
        logged_in_at: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        self.store.start_session(user, session, logged_in_at, events).await
    }

    async fn load(&self, user_id: u64, session_id: &str) -> StoreResult<SessionView> {
        let view = self.store.load(user_id, session_id).await?;
        let meanwhile = self.meanwhile.lock().ok().and_then(|mut next| next.take());
        match meanwhile {
            Some(Meanwhile::PasswordChange { kept_session }) => {
                let changed = self
                    .store
                    .change_password(self.user_id, &kept_session, 0, "new-hash", &[])
                    .await?;
                assert!(changed, "the other session changed the password");
            }
            Some(Meanwhile::Deactivate) => self.store.set_active(self.user_id, false),
            Some(Meanwhile::Delete) => self.store.delete_user(self.user_id),
            None => {}
        }
        Ok(view)
    }

    async fn rotate_refresh(
        &self,
        user_id: u64,
        session_id: &str,
        presented_jti: &str,
        expected_epoch: u64,
        next: &NextRefresh,
    ) -> StoreResult<Rotation> {
        self.store
            .rotate_refresh(user_id, session_id, presented_jti, expected_epoch, next)
            .await
    }

    async fn end_session(&self, user_id: u64, session_id: &str) -> StoreResult<bool> {
        self.store.end_session(user_id, session_id).await
    }

    async fn change_password(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        self.store
            .change_password(user_id, keep_session_id, expected_epoch, new_password_hash, events)
            .await
    }

    async fn touch_session(&self, user_id: u64, session_id: &str, at: i64) -> StoreResult<bool> {
        self.store.touch_session(user_id, session_id, at).await
    }
}

impl EventStore for Interfering {
    async fn record_events(&self, events: &[SecurityEvent]) -> StoreResult<()> {
        self.store.record_events(events).await
    }

    async fn events_of(
        &self,
        subject: &EventSubject,
        since_ms: i64,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> StoreResult<EventPage> {
        self.store.events_of(subject, since_ms, after, limit).await
    }
}

/// The test user ([`joined`]) with a second session, over a store that does `meanwhile` (given
/// the second session's id) after the next read; the user's id and the first session's tokens.
pub async fn interfered(meanwhile: impl FnOnce(String) -> Meanwhile) -> (App<Interfering>, u64, SessionTokens) {
    let plain = app();
    let (user_id, tokens) = joined(&plain).await;
    let other = start_session(&plain, user_id).await;
    let store = Interfering {
        store: plain.store,
        user_id,
        meanwhile: Mutex::new(Some(meanwhile(other.session_id))),
    };
    (App::new(test_config(&[]), store), user_id, tokens)
}
