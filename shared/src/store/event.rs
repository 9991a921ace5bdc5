//! Security events: what happened to an account, when, from where and by whose hand. Each is
//! stored (with a TTL: the retention period) and logged as one JSON line; none ever holds an
//! address, a password, a token or a hash of a secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What happened. The names are the API's (`type` in every answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Join,
    Login,
    /// A wrong password, an unknown address, an inactive user: `detail.reason` says which.
    LoginFailed,
    LoginThrottled,
    Logout,
    /// A spent refresh token came back: its session was ended.
    TokenReuseDetected,
    PasswordChanged,
    PasswordResetRequested,
    PasswordResetDone,
    EmailVerified,
    /// One session ended by its user (the sessions route).
    SessionEnded,
    /// Every session but the caller's ended (revoke-others).
    SessionsRevoked,
    AccountDeleted,
    AdminUpdate,
    AdminSignOut,
    AdminPasswordReset,
    AdminDelete,
    /// A provider account linked to the user (`detail.provider`; `detail.how` when it was
    /// linked by a login whose verified address matched, not by the user's own connect).
    SocialConnected,
    /// A provider account unlinked by its user.
    SocialDisconnected,
}

impl EventKind {
    pub const ALL: [EventKind; 19] = [
        EventKind::Join,
        EventKind::Login,
        EventKind::LoginFailed,
        EventKind::LoginThrottled,
        EventKind::Logout,
        EventKind::TokenReuseDetected,
        EventKind::PasswordChanged,
        EventKind::PasswordResetRequested,
        EventKind::PasswordResetDone,
        EventKind::EmailVerified,
        EventKind::SessionEnded,
        EventKind::SessionsRevoked,
        EventKind::AccountDeleted,
        EventKind::AdminUpdate,
        EventKind::AdminSignOut,
        EventKind::AdminPasswordReset,
        EventKind::AdminDelete,
        EventKind::SocialConnected,
        EventKind::SocialDisconnected,
    ];

    /// The API's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Join => "join",
            EventKind::Login => "login",
            EventKind::LoginFailed => "login_failed",
            EventKind::LoginThrottled => "login_throttled",
            EventKind::Logout => "logout",
            EventKind::TokenReuseDetected => "token_reuse_detected",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordResetDone => "password_reset_done",
            EventKind::EmailVerified => "email_verified",
            EventKind::SessionEnded => "session_ended",
            EventKind::SessionsRevoked => "sessions_revoked",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::AdminUpdate => "admin_update",
            EventKind::AdminSignOut => "admin_sign_out",
            EventKind::AdminPasswordReset => "admin_password_reset",
            EventKind::AdminDelete => "admin_delete",
            EventKind::SocialConnected => "social_connected",
            EventKind::SocialDisconnected => "social_disconnected",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Whose event: a user's pk, or, for an address no account has (a failed login, a reset asked
/// for it), a keyed hash of the canonical address, so that attempts on one address can be told
/// apart without the address ever being stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventSubject {
    User(u64),
    Address(String),
}

impl EventSubject {
    /// The prefix of an address subject as the API shows it.
    pub const ADDRESS_PREFIX: &'static str = "address:";

    /// An address subject from its keyed hash (hex).
    pub fn address(tag: &str) -> Self {
        EventSubject::Address(format!("{}{tag}", Self::ADDRESS_PREFIX))
    }

    /// The subject as one string: the pk in decimal, or the address form.
    pub fn key(&self) -> String {
        match self {
            EventSubject::User(id) => id.to_string(),
            EventSubject::Address(tag) => tag.clone(),
        }
    }
}

/// One event as stored and answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// Random, 128 bits (`crate::ids::random_id`).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// Unix time in milliseconds: events of one second keep their order.
    pub at_ms: i64,
    pub user: EventSubject,
    /// The pk of whoever acted: the user themself, or a staff member or operator.
    pub actor: Option<u64>,
    /// The client's address as API Gateway saw it.
    pub ip: Option<String>,
    /// The device label (`crate::http::device::label`).
    pub device: Option<String>,
    /// A few non-secret words: why a login failed, which fields an admin changed.
    #[serde(default)]
    pub detail: BTreeMap<String, String>,
    /// The TTL: the end of the retention period, in Unix seconds.
    pub expires_at: i64,
}

impl SecurityEvent {
    /// Where the event falls in its subject's list, newest first.
    pub fn position(&self) -> EventPosition {
        EventPosition {
            at_ms: self.at_ms,
            id: self.id.clone(),
        }
    }
}

/// A place in a subject's list of events: pages continue after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPosition {
    pub at_ms: i64,
    pub id: String,
}

/// One page of a subject's events, newest first, and where the next page starts (`None`:
/// this was the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    pub next: Option<EventPosition>,
}

/// The events of a user being created, with the id the store assigned: it becomes each one's
/// user, and its actor where that is 0 (the new user acting themself, as at join).
pub(crate) fn events_of_new_user(events: &[SecurityEvent], id: u64) -> Vec<SecurityEvent> {
    events
        .iter()
        .cloned()
        .map(|mut event| {
            event.user = EventSubject::User(id);
            if event.actor == Some(0) {
                event.actor = Some(id);
            }
            event
        })
        .collect()
}
