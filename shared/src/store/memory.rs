//! The in-memory twin of the DynamoDB store, for fast handler tests. Same semantics, one lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::event::events_of_new_user;
use super::{
    AccountStore, AdminChanges, AdminRefusal, AdminStore, EmailStore, EventFilter, EventPage, EventPosition,
    EventStore, EventSubject, LinkOutcome, LoginThrottleStore, MAIL_QUOTA_WINDOW_SECONDS, MailPurpose, NewSession,
    NewSocialLink, NewUser, NextRefresh, ProfileChanges, Registration, Rotation, SecurityEvent, Session,
    SessionListStore, SessionProblem, SessionStore, SessionView, SocialLink, SocialRegistration, SocialStore,
    StoreError, StoreResult, TOUCH_INTERVAL_SECONDS, ThrottleRecord, User, UserDirectory, UserListing, UserPage,
    UserPosition, UserQuery, UserStore,
};

#[derive(Default)]
struct State {
    users: HashMap<u64, User>,
    emails: HashMap<String, u64>,
    sessions: HashMap<(u64, String), Session>,
    throttle: HashMap<String, ThrottleRecord>,
    /// Per (email, purpose): mails counted and when the window ends.
    mail_quota: HashMap<(String, &'static str), (u32, i64)>,
    last_user_id: u64,
    /// Every event recorded, in the order written.
    events: Vec<SecurityEvent>,
    /// Links by (provider, uid).
    links: HashMap<(String, String), SocialLink>,
    last_link_id: u64,
    /// Accepted ID tokens' digests and when they expire.
    id_tokens: HashMap<String, i64>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following call fail as an unreachable store would (or stop failing).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Deactivates or reactivates a user (what an admin would do).
    pub fn set_active(&self, user_id: u64, active: bool) {
        if let Ok(mut state) = self.state.lock()
            && let Some(user) = state.users.get_mut(&user_id)
        {
            user.is_active = active;
        }
    }

    /// Makes a user staff or not (what a superuser would do).
    pub fn set_staff(&self, user_id: u64, staff: bool) {
        if let Ok(mut state) = self.state.lock()
            && let Some(user) = state.users.get_mut(&user_id)
        {
            user.is_staff = staff;
        }
    }

    /// Makes a user a superuser or not, straight in the store (a test's setup).
    pub fn set_superuser(&self, user_id: u64, superuser: bool) {
        if let Ok(mut state) = self.state.lock()
            && let Some(user) = state.users.get_mut(&user_id)
        {
            user.is_superuser = superuser;
            user.is_staff |= superuser;
        }
    }

    /// Removes a user (and their email claim), leaving sessions behind.
    pub fn delete_user(&self, user_id: u64) {
        if let Ok(mut state) = self.state.lock()
            && let Some(user) = state.users.remove(&user_id)
        {
            state.emails.remove(&user.email);
        }
    }

    pub fn session(&self, user_id: u64, session_id: &str) -> Option<Session> {
        let state = self.state.lock().ok()?;
        state.sessions.get(&(user_id, session_id.to_owned())).cloned()
    }

    /// Moves the session's last rotation, and so its last use, `seconds` into the past (the
    /// clocks of the reuse interval and of `last_used_at`).
    pub fn age_rotation(&self, user_id: u64, session_id: &str, seconds: i64) {
        if let Ok(mut state) = self.state.lock()
            && let Some(session) = state.sessions.get_mut(&(user_id, session_id.to_owned()))
        {
            session.refresh_issued_at -= seconds;
            session.last_used_at -= seconds;
        }
    }

    /// Moves a session's start (and its last rotation) `seconds` into the past.
    pub fn age_session(&self, user_id: u64, session_id: &str, seconds: i64) {
        if let Ok(mut state) = self.state.lock()
            && let Some(session) = state.sessions.get_mut(&(user_id, session_id.to_owned()))
        {
            session.created_at -= seconds;
            session.refresh_issued_at -= seconds;
            session.last_used_at -= seconds;
        }
    }

    /// The throttle record of an email, as stored.
    pub fn throttle(&self, email: &str) -> Option<ThrottleRecord> {
        let state = self.state.lock().ok()?;
        state.throttle.get(email).cloned()
    }

    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.state.lock().map(|state| state.events.clone()).unwrap_or_default()
    }

    /// The user with this email, read at once (tests).
    pub fn find_by_email_now(&self, email: &str) -> Option<User> {
        let state = self.state.lock().ok()?;
        state.emails.get(email).and_then(|id| state.users.get(id)).cloned()
    }

    pub fn user(&self, user_id: u64) -> Option<User> {
        let state = self.state.lock().ok()?;
        state.users.get(&user_id).cloned()
    }

    fn state(&self) -> StoreResult<MutexGuard<'_, State>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store switched off".into()));
        }
        self.state
            .lock()
            .map_err(|_| StoreError::Other("memory store lock poisoned".into()))
    }
}

impl UserStore for MemoryStore {
    async fn email_registered(&self, email: &str) -> StoreResult<bool> {
        Ok(self.state()?.emails.contains_key(email))
    }

    async fn create_user(
        &self,
        new: NewUser,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> StoreResult<Registration> {
        let mut state = self.state()?;
        state.last_user_id += 1;
        if state.emails.contains_key(&new.email) {
            return Ok(Registration::EmailTaken);
        }
        let user = new.into_user(state.last_user_id, first_session.is_some(), false);
        state.insert_user(&user, first_session, events);
        Ok(Registration::Created(user))
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let state = self.state()?;
        Ok(state.emails.get(email).and_then(|id| state.users.get(id)).cloned())
    }

    async fn update_profile(
        &self,
        user_id: u64,
        expected_epoch: u64,
        changes: &ProfileChanges,
    ) -> StoreResult<Result<User, SessionProblem>> {
        let mut state = self.state()?;
        match state.users.get_mut(&user_id) {
            // The epoch first, as the DynamoDB store decides from the item its write found.
            Some(user) if user.session_epoch != expected_epoch => Ok(Err(SessionProblem::Revoked)),
            Some(user) if user.is_active => {
                changes.apply_to(user);
                Ok(Ok(user.clone()))
            }
            _ => Ok(Err(SessionProblem::NoActiveUser)),
        }
    }
}

impl SessionStore for MemoryStore {
    async fn start_session(
        &self,
        user: &User,
        session: NewSession,
        logged_in_at: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.users.get_mut(&user.id) {
            Some(stored) if stored.is_active && stored.session_epoch == user.session_epoch => {
                stored.last_login = Some(logged_in_at.to_owned());
            }
            _ => return Ok(false),
        }
        let key = (user.id, session.id.clone());
        state.sessions.insert(key, session.start(user.id, user.session_epoch));
        state.events.extend_from_slice(events);
        Ok(true)
    }

    async fn load(&self, user_id: u64, session_id: &str) -> StoreResult<SessionView> {
        let state = self.state()?;
        Ok(SessionView {
            user: state.users.get(&user_id).cloned(),
            session: state.sessions.get(&(user_id, session_id.to_owned())).cloned(),
        })
    }

    async fn rotate_refresh(
        &self,
        user_id: u64,
        session_id: &str,
        presented_jti: &str,
        expected_epoch: u64,
        next: &NextRefresh,
    ) -> StoreResult<Rotation> {
        let mut state = self.state()?;
        let session_spendable = state
            .sessions
            .get(&(user_id, session_id.to_owned()))
            .is_some_and(|session| !session.revoked && session.refresh_jti == presented_jti);
        if session_spendable {
            match state.users.get(&user_id) {
                Some(user) if user.is_active && user.session_epoch == expected_epoch => {}
                Some(user) if user.is_active => return Ok(Rotation::UserChanged(SessionProblem::Revoked)),
                _ => return Ok(Rotation::UserChanged(SessionProblem::NoActiveUser)),
            }
        }
        match state.sessions.get_mut(&(user_id, session_id.to_owned())) {
            Some(session) if !session.revoked && session.refresh_jti == presented_jti => {
                session.previous_jti = Some(presented_jti.to_owned());
                session.refresh_jti = next.jti.clone();
                session.refresh_issued_at = next.issued_at;
                session.last_used_at = next.issued_at;
                session.expires_at = next.session_expires_at;
                Ok(Rotation::Rotated)
            }
            // A retry of this very rotation whose answer was lost: the session holds our token.
            Some(session) if session.refresh_jti == next.jti => Ok(Rotation::Rotated),
            current => Ok(Rotation::Overtaken(current.cloned())),
        }
    }

    async fn end_session(&self, user_id: u64, session_id: &str) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.sessions.get_mut(&(user_id, session_id.to_owned())) {
            Some(session) => {
                session.revoked = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn change_password(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        Ok(self.state()?.bump_epoch(
            user_id,
            keep_session_id,
            expected_epoch,
            Some(new_password_hash),
            events,
        ))
    }

    async fn touch_session(&self, user_id: u64, session_id: &str, at: i64) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.sessions.get_mut(&(user_id, session_id.to_owned())) {
            Some(session) if !session.revoked && session.last_used_at <= at - TOUCH_INTERVAL_SECONDS => {
                session.last_used_at = at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl State {
    /// Password change's transaction (and revoke-others', without a hash): the user's epoch
    /// moves on and only the kept session follows, if both are as expected (`false` otherwise).
    fn bump_epoch(
        &mut self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: Option<&str>,
        events: &[SecurityEvent],
    ) -> bool {
        let key = (user_id, keep_session_id.to_owned());
        let session_live =
            matches!(self.sessions.get(&key), Some(session) if !session.revoked && session.epoch == expected_epoch);
        let epoch_current = matches!(self.users.get(&user_id), Some(user) if user.session_epoch == expected_epoch);
        if !session_live || !epoch_current {
            return false;
        }
        let next_epoch = expected_epoch + 1;
        if let Some(user) = self.users.get_mut(&user_id) {
            if let Some(hash) = new_password_hash {
                user.password_hash = hash.to_owned();
            }
            user.session_epoch = next_epoch;
        }
        if let Some(session) = self.sessions.get_mut(&key) {
            session.epoch = next_epoch;
        }
        self.events.extend_from_slice(events);
        true
    }
}

impl SessionListStore for MemoryStore {
    async fn list_sessions(&self, user_id: u64) -> StoreResult<Vec<Session>> {
        let state = self.state()?;
        let mut sessions: Vec<Session> = state
            .sessions
            .iter()
            .filter(|((owner, _), _)| *owner == user_id)
            .map(|(_, session)| session.clone())
            .collect();
        // DynamoDB answers in sort key order.
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(sessions)
    }

    async fn revoke_other_sessions(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        Ok(self
            .state()?
            .bump_epoch(user_id, keep_session_id, expected_epoch, None, events))
    }

    async fn delete_sessions(&self, user_id: u64, session_ids: &[String]) -> StoreResult<()> {
        let mut state = self.state()?;
        for id in session_ids {
            state.sessions.remove(&(user_id, id.clone()));
        }
        Ok(())
    }
}

impl AccountStore for MemoryStore {
    async fn delete_account(
        &self,
        user: &User,
        session_id: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<Result<(), SessionProblem>> {
        let mut state = self.state()?;
        let key = (user.id, session_id.to_owned());
        // The same order of judgement as the DynamoDB store: the user first.
        match state.users.get(&user.id) {
            None => return Ok(Ok(())),
            Some(stored) if stored.session_epoch != user.session_epoch => return Ok(Err(SessionProblem::Revoked)),
            Some(stored) if !stored.is_active => return Ok(Err(SessionProblem::NoActiveUser)),
            Some(_) => {}
        }
        if !matches!(state.sessions.get(&key), Some(session) if !session.revoked) {
            return Ok(Err(SessionProblem::Revoked));
        }
        state.users.remove(&user.id);
        state.emails.remove(&user.email);
        state.throttle.remove(&user.email);
        state.sessions.remove(&key);
        state.events.extend_from_slice(events);
        Ok(Ok(()))
    }
}

impl LoginThrottleStore for MemoryStore {
    async fn throttle_record(&self, email: &str) -> StoreResult<ThrottleRecord> {
        Ok(self.state()?.throttle.get(email).cloned().unwrap_or_default())
    }

    async fn replace_throttle_record(
        &self,
        email: &str,
        expected_version: u64,
        next: &ThrottleRecord,
    ) -> StoreResult<Result<(), ThrottleRecord>> {
        let mut state = self.state()?;
        let current = state.throttle.get(email).cloned().unwrap_or_default();
        if current.version != expected_version {
            return Ok(Err(current));
        }
        state.throttle.insert(email.to_owned(), next.clone());
        Ok(Ok(()))
    }

    async fn clear_throttle_record(&self, email: &str) -> StoreResult<()> {
        self.state()?.throttle.remove(email);
        Ok(())
    }
}

impl EmailStore for MemoryStore {
    async fn find_by_id(&self, user_id: u64) -> StoreResult<Option<User>> {
        Ok(self.state()?.users.get(&user_id).cloned())
    }

    async fn reset_password(
        &self,
        user: &User,
        new_password_hash: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.users.get_mut(&user.id) {
            Some(stored)
                if stored.is_active
                    && stored.password_hash == user.password_hash
                    && stored.session_epoch == user.session_epoch =>
            {
                stored.password_hash = new_password_hash.to_owned();
                stored.session_epoch += 1;
                stored.email_verified = true;
            }
            // A retry of this very reset whose answer was lost finds its own hash (as DynamoDB's
            // store recognises it): done, not refused.
            Some(stored) => return Ok(stored.password_hash == new_password_hash),
            None => return Ok(false),
        }
        state.throttle.remove(&user.email);
        state.events.extend_from_slice(events);
        Ok(true)
    }

    async fn mark_email_verified(&self, user_id: u64, email: &str) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.users.get_mut(&user_id) {
            Some(user) if user.email == email && !user.email_verified => {
                user.email_verified = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn take_mail_quota(&self, email: &str, purpose: MailPurpose, limit: u32, now: i64) -> StoreResult<bool> {
        let mut state = self.state()?;
        let entry = state
            .mail_quota
            .entry((email.to_owned(), purpose.sort_key()))
            .or_insert((0, 0));
        if entry.1 <= now {
            *entry = (0, now + MAIL_QUOTA_WINDOW_SECONDS);
        }
        if entry.0 >= limit {
            return Ok(false);
        }
        entry.0 += 1;
        Ok(true)
    }
}

impl EventStore for MemoryStore {
    async fn record_events(&self, events: &[SecurityEvent]) -> StoreResult<()> {
        self.state()?.events.extend_from_slice(events);
        Ok(())
    }

    async fn events_of(
        &self,
        subject: &EventSubject,
        since_ms: i64,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> StoreResult<EventPage> {
        let filter = EventFilter {
            subject: Some(subject.clone()),
            kind: None,
        };
        Ok(self.state()?.events_page(&filter, since_ms, after, limit))
    }
}

impl UserDirectory for MemoryStore {
    async fn list_users(&self, query: &UserQuery, after: Option<&UserPosition>, limit: usize) -> StoreResult<UserPage> {
        let state = self.state()?;
        let mut users: Vec<UserListing> = state
            .users
            .values()
            .map(UserListing::from)
            .filter(|user| query.matches(user))
            .filter(|user| after.is_none_or(|after| user.email.as_str() > after.email.as_str()))
            .collect();
        // The index's order: by email (unique).
        users.sort_by(|a, b| a.email.cmp(&b.email));
        let next = match users.len() > limit {
            true => {
                users.truncate(limit);
                users.last().map(|user| UserPosition {
                    email: user.email.clone(),
                    id: user.id,
                })
            }
            false => None,
        };
        Ok(UserPage { users, next })
    }
}

impl State {
    /// The events `filter` matches, newest first (DynamoDB's order: by time, then id), none
    /// before `since_ms`, strictly below `before`: one page and where the next starts.
    fn events_page(
        &self,
        filter: &EventFilter,
        since_ms: i64,
        before: Option<&EventPosition>,
        limit: usize,
    ) -> EventPage {
        let below = |event: &SecurityEvent| {
            before.is_none_or(|before| (event.at_ms, event.id.as_str()) < (before.at_ms, before.id.as_str()))
        };
        let mut events: Vec<SecurityEvent> = self
            .events
            .iter()
            .filter(|event| filter.matches(&event.user, event.kind) && event.at_ms >= since_ms && below(event))
            .cloned()
            .collect();
        events.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
        let next = match events.len() > limit {
            true => {
                events.truncate(limit);
                events.last().map(SecurityEvent::position)
            }
            false => None,
        };
        EventPage { events, next }
    }
}

impl State {
    /// Whether `user` (as stored) is the only active superuser: the write ending their standing
    /// would leave none.
    fn is_last_active_superuser(&self, user_id: u64) -> bool {
        let superusers: Vec<u64> = self
            .users
            .values()
            .filter(|user| super::is_active_superuser(user))
            .map(|user| user.id)
            .collect();
        superusers == [user_id]
    }
}

impl AdminStore for MemoryStore {
    async fn admin_update(
        &self,
        user: &User,
        changes: &AdminChanges,
        events: &[SecurityEvent],
    ) -> StoreResult<Result<User, AdminRefusal>> {
        let mut state = self.state()?;
        let Some(stored) = state.users.get(&user.id) else {
            return Ok(Err(AdminRefusal::Gone));
        };
        // The fields it changes still hold what was read (the DynamoDB store's condition).
        let mut expected = stored.clone();
        changes.apply_to(&mut expected);
        let unchanged = stored.session_epoch == user.session_epoch
            && changes
                .profile
                .first_name
                .as_ref()
                .is_none_or(|_| stored.first_name == user.first_name)
            && changes
                .profile
                .last_name
                .as_ref()
                .is_none_or(|_| stored.last_name == user.last_name)
            && changes
                .profile
                .gender
                .as_ref()
                .is_none_or(|_| stored.gender == user.gender)
            && changes
                .profile
                .date_of_birth
                .as_ref()
                .is_none_or(|_| stored.date_of_birth == user.date_of_birth)
            && changes.is_active.is_none_or(|_| stored.is_active == user.is_active)
            && changes.is_staff.is_none_or(|_| stored.is_staff == user.is_staff)
            && changes
                .is_superuser
                .is_none_or(|_| stored.is_superuser == user.is_superuser)
            && changes
                .email_verified
                .is_none_or(|_| stored.email_verified == user.email_verified);
        if !unchanged {
            return Ok(Err(AdminRefusal::Conflict));
        }
        if super::is_active_superuser(stored)
            && !super::is_active_superuser(&expected)
            && state.is_last_active_superuser(user.id)
        {
            return Ok(Err(AdminRefusal::LastSuperuser));
        }
        state.users.insert(user.id, expected.clone());
        state.events.extend_from_slice(events);
        Ok(Ok(expected))
    }

    async fn admin_sign_out(&self, user: &User, events: &[SecurityEvent]) -> StoreResult<Result<(), AdminRefusal>> {
        let mut state = self.state()?;
        match state.users.get_mut(&user.id) {
            None => Ok(Err(AdminRefusal::Gone)),
            Some(stored) if stored.session_epoch != user.session_epoch => Ok(Err(AdminRefusal::Conflict)),
            Some(stored) => {
                stored.session_epoch += 1;
                state.events.extend_from_slice(events);
                Ok(Ok(()))
            }
        }
    }

    async fn admin_delete(&self, user: &User, events: &[SecurityEvent]) -> StoreResult<Result<(), AdminRefusal>> {
        let mut state = self.state()?;
        match state.users.get(&user.id) {
            None => return Ok(Err(AdminRefusal::Gone)),
            Some(stored)
                if stored.session_epoch != user.session_epoch
                    || stored.is_active != user.is_active
                    || stored.is_superuser != user.is_superuser =>
            {
                return Ok(Err(AdminRefusal::Conflict));
            }
            Some(stored) if super::is_active_superuser(stored) && state.is_last_active_superuser(user.id) => {
                return Ok(Err(AdminRefusal::LastSuperuser));
            }
            Some(_) => {}
        }
        state.users.remove(&user.id);
        state.emails.remove(&user.email);
        state.throttle.remove(&user.email);
        state.events.extend_from_slice(events);
        Ok(Ok(()))
    }

    async fn event_feed(
        &self,
        filter: &EventFilter,
        since_ms: i64,
        before: Option<&EventPosition>,
        limit: usize,
    ) -> StoreResult<EventPage> {
        Ok(self.state()?.events_page(filter, since_ms, before, limit))
    }
}

impl State {
    /// A new user with its email claim, its first session and the events of its creation.
    fn insert_user(&mut self, user: &User, first_session: Option<NewSession>, events: &[SecurityEvent]) {
        self.emails.insert(user.email.clone(), user.id);
        self.users.insert(user.id, user.clone());
        if let Some(session) = first_session {
            self.sessions
                .insert((user.id, session.id.clone()), session.start(user.id, 0));
        }
        self.events.extend(events_of_new_user(events, user.id));
    }

    fn new_link(&mut self, user_id: u64, new: NewSocialLink) -> SocialLink {
        self.last_link_id += 1;
        let link = new.into_link(self.last_link_id, user_id);
        self.links
            .insert((link.provider.clone(), link.uid.clone()), link.clone());
        link
    }
}

impl SocialStore for MemoryStore {
    async fn find_social_link(&self, provider: &str, uid: &str) -> StoreResult<Option<SocialLink>> {
        let state = self.state()?;
        Ok(state.links.get(&(provider.to_owned(), uid.to_owned())).cloned())
    }

    async fn social_links_of(&self, user_id: u64) -> StoreResult<Vec<SocialLink>> {
        let state = self.state()?;
        let mut links: Vec<SocialLink> = state
            .links
            .values()
            .filter(|link| link.user_id == user_id)
            .cloned()
            .collect();
        links.sort_by_key(|link| link.id);
        Ok(links)
    }

    async fn create_social_user(
        &self,
        new: NewUser,
        email_verified: bool,
        link: NewSocialLink,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> StoreResult<SocialRegistration> {
        let mut state = self.state()?;
        if state.emails.contains_key(&new.email) {
            return Ok(SocialRegistration::EmailTaken);
        }
        if state.links.contains_key(&(link.provider.clone(), link.uid.clone())) {
            return Ok(SocialRegistration::LinkTaken);
        }
        state.last_user_id += 1;
        let mut user = new.into_user(state.last_user_id, first_session.is_some(), email_verified);
        user.social_links = 1;
        let link = state.new_link(user.id, link);
        state.insert_user(&user, first_session, events);
        Ok(SocialRegistration::Created(user, link))
    }

    async fn link_social_account(
        &self,
        user: &User,
        link: NewSocialLink,
        events: &[SecurityEvent],
    ) -> StoreResult<LinkOutcome> {
        let mut state = self.state()?;
        if let Some(existing) = state.links.get(&(link.provider.clone(), link.uid.clone())) {
            return Ok(match existing.user_id == user.id {
                true => LinkOutcome::AlreadyLinked(existing.clone()),
                false => LinkOutcome::TakenBy(existing.user_id),
            });
        }
        match state.users.get_mut(&user.id) {
            Some(stored) if stored.is_active && stored.session_epoch == user.session_epoch => {
                stored.social_links += 1;
            }
            _ => return Ok(LinkOutcome::UserChanged),
        }
        let link = state.new_link(user.id, link);
        state.events.extend_from_slice(events);
        Ok(LinkOutcome::Linked(link))
    }

    async fn unlink_social_account(
        &self,
        user: &User,
        link: &SocialLink,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        let key = (link.provider.clone(), link.uid.clone());
        if state.links.get(&key).is_none_or(|found| found.user_id != user.id) {
            return Ok(false);
        }
        match state.users.get_mut(&user.id) {
            Some(stored) if stored.social_links == user.social_links => {
                stored.social_links = stored.social_links.saturating_sub(1);
            }
            _ => return Ok(false),
        }
        state.links.remove(&key);
        state.events.extend_from_slice(events);
        Ok(true)
    }

    async fn forget_stale_link(&self, link: &SocialLink) -> StoreResult<()> {
        let mut state = self.state()?;
        let key = (link.provider.clone(), link.uid.clone());
        if state.links.get(&key).is_some_and(|found| found.user_id == link.user_id)
            && !state.users.contains_key(&link.user_id)
        {
            state.links.remove(&key);
        }
        Ok(())
    }

    async fn record_social_login(&self, link: &SocialLink, at: &str) -> StoreResult<()> {
        let mut state = self.state()?;
        if let Some(found) = state.links.get_mut(&(link.provider.clone(), link.uid.clone()))
            && found.id == link.id
        {
            found.last_login = at.to_owned();
        }
        Ok(())
    }

    async fn claim_id_token(&self, digest: &str, expires_at: i64) -> StoreResult<bool> {
        let mut state = self.state()?;
        let now = crate::clock::now_unix();
        state.id_tokens.retain(|_, expires| *expires > now);
        if state.id_tokens.contains_key(digest) {
            return Ok(false);
        }
        state.id_tokens.insert(digest.to_owned(), expires_at);
        Ok(true)
    }
}
