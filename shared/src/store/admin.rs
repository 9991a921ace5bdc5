//! What staff (the admin routes) and operators (`account-admin`) change on a user, the rules
//! every such write keeps, and the event log as staff read it.
//!
//! Each admin write is conditional on what the request read: every field it changes must still
//! hold the value read, so of two admins changing one field at once the second gets a conflict
//! (409) instead of silently undoing the first. Writes that end a user's last active
//! superuser standing (a demotion, a deactivation, a deletion) must leave another one: the
//! store keeps the set of active superusers in one item and refuses a change that would empty
//! it, in the same transaction, so two admins demoting the last two superusers at once cannot
//! both succeed.

use super::{EventKind, EventSubject, ProfileChanges, User};

/// What an admin changes on a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminChanges {
    pub profile: ProfileChanges,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    pub email_verified: Option<bool>,
    /// A new password hash: `account-admin reset-password` replaces the password with one
    /// nobody knows (the user then sets theirs through the reset mail). Never from HTTP.
    pub password_hash: Option<String>,
}

impl AdminChanges {
    pub fn is_empty(&self) -> bool {
        *self == AdminChanges::default()
    }

    /// The changes applied to `user` (a deactivation and a new password also move the epoch:
    /// every session ends).
    pub fn apply_to(&self, user: &mut User) {
        self.profile.apply_to(user);
        let ends_sessions = (user.is_active && self.is_active == Some(false)) || self.password_hash.is_some();
        if ends_sessions {
            user.session_epoch += 1;
        }
        if let Some(active) = self.is_active {
            user.is_active = active;
        }
        if let Some(hash) = &self.password_hash {
            user.password_hash.clone_from(hash);
        }
        if let Some(staff) = self.is_staff {
            user.is_staff = staff;
        }
        if let Some(superuser) = self.is_superuser {
            user.is_superuser = superuser;
        }
        if let Some(verified) = self.email_verified {
            user.email_verified = verified;
        }
    }

    /// The names of the fields whose values differ from `user`'s (the event's detail).
    pub fn changed_fields(&self, user: &User) -> Vec<&'static str> {
        let mut changed = user.clone();
        self.apply_to(&mut changed);
        let pairs: [(&'static str, bool); 9] = [
            ("first_name", changed.first_name != user.first_name),
            ("last_name", changed.last_name != user.last_name),
            ("gender", changed.gender != user.gender),
            ("date_of_birth", changed.date_of_birth != user.date_of_birth),
            ("is_active", changed.is_active != user.is_active),
            ("is_staff", changed.is_staff != user.is_staff),
            ("is_superuser", changed.is_superuser != user.is_superuser),
            ("email_verified", changed.email_verified != user.email_verified),
            ("password", changed.password_hash != user.password_hash),
        ];
        pairs
            .into_iter()
            .filter(|(_, differs)| *differs)
            .map(|(name, _)| name)
            .collect()
    }
}

/// Whether `user` counts toward the active superusers (the set the last-superuser rule keeps).
pub fn is_active_superuser(user: &User) -> bool {
    user.is_active && user.is_superuser
}

/// Why an admin write did not happen (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    /// The user is gone.
    Gone,
    /// A field it changes, or the standing it was judged by, changed since it was read.
    Conflict,
    /// It would leave no active superuser.
    LastSuperuser,
}

/// What the staff's event log is narrowed to: one subject, one kind, both or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub subject: Option<EventSubject>,
    pub kind: Option<EventKind>,
}

impl EventFilter {
    pub fn matches(&self, subject: &EventSubject, kind: EventKind) -> bool {
        self.subject.as_ref().is_none_or(|wanted| wanted == subject) && self.kind.is_none_or(|wanted| wanted == kind)
    }
}
