//! The security-event log as the routes write it: an event made from the request, one JSON log
//! line per event (`"kind": "security_event"`, for Logs Insights or a SIEM subscription), and
//! the stored item (`crate::store::EventStore`).
//!
//! Where the action is a transaction already, its events ride in it (the store's `events`
//! arguments) and are logged once it committed: an event exists exactly when its action
//! happened. Other events are put beside the action's own write ([`record`]); a failed put
//! never fails the request, and the log line carries the event either way.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::config::Config;
use crate::http::pages;
use crate::ids::{is_id, random_id};
use crate::store::{EventKind, EventPosition, EventStore, EventSubject, SecurityEvent, SessionOrigin};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A new event of `kind` about `user`, done by `actor`, from `origin`, now.
pub fn event(
    config: &Config,
    kind: EventKind,
    user: EventSubject,
    actor: Option<u64>,
    origin: &SessionOrigin,
) -> SecurityEvent {
    kept_for(config.event_retention_days, kind, user, actor, origin)
}

/// [`event`], kept for `retention_days` (for `account-admin`, which has no function's `Config`).
pub fn kept_for(
    retention_days: i64,
    kind: EventKind,
    user: EventSubject,
    actor: Option<u64>,
    origin: &SessionOrigin,
) -> SecurityEvent {
    let at_ms = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    SecurityEvent {
        id: random_id(),
        kind,
        at_ms,
        user,
        actor,
        ip: origin.ip.clone(),
        device: Some(origin.device.clone()).filter(|device| !device.is_empty()),
        detail: BTreeMap::new(),
        expires_at: (at_ms + retention_days * MILLIS_PER_DAY) / 1000,
    }
}

/// The user acting on their own account: they are its subject and its actor.
pub fn own(config: &Config, kind: EventKind, user_id: u64, origin: &SessionOrigin) -> SecurityEvent {
    event(config, kind, EventSubject::User(user_id), Some(user_id), origin)
}

/// The oldest time, in Unix milliseconds, still within the retention period.
pub fn retained_since(config: &Config) -> i64 {
    retained_since_days(config.event_retention_days)
}

/// [`retained_since`] for a retention of `days`.
pub fn retained_since_days(days: i64) -> i64 {
    let now_ms = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    now_ms - days * MILLIS_PER_DAY
}

/// Adds a non-secret word of detail.
pub fn with_detail(mut event: SecurityEvent, name: &str, value: &str) -> SecurityEvent {
    event.detail.insert(name.to_owned(), value.to_owned());
    event
}

/// The log line of each event (after its transaction committed, or beside its own put).
pub fn log(events: &[SecurityEvent]) {
    for event in events {
        let detail = serde_json::to_string(&event.detail).unwrap_or_default();
        tracing::info!(
            kind = "security_event",
            event_id = %event.id,
            event_type = event.kind.name(),
            at_ms = event.at_ms,
            user = %event.user.key(),
            actor = event.actor,
            ip = event.ip.as_deref(),
            device = event.device.as_deref(),
            detail = %detail,
            "security event"
        );
    }
}

/// Logs and stores events no transaction carries. Run beside the action's own write (no
/// round trip of its own on the way to the answer); a failed put is logged and the request
/// goes on: the log line above still holds the event.
pub async fn record(store: &impl EventStore, events: &[SecurityEvent]) {
    log(events);
    if let Err(error) = store.record_events(events).await {
        tracing::error!(%error, "security events not stored (their log lines above hold them)");
    }
}

/// The `next` of a page of events of the list `query` that ended at `position`.
pub fn cursor(query: &str, position: &EventPosition) -> String {
    pages::cursor(query, &[position.at_ms.to_string(), position.id.clone()])
}

/// The position a cursor of the events list `query` names (see [`crate::http::pages`]).
pub fn read_cursor(query: &str, cursor: &str) -> Option<EventPosition> {
    position_of(&pages::read_cursor(query, cursor)?)
}

/// An events position from a cursor's parts; `None` unless they are a time and an id.
pub fn position_of(parts: &[String]) -> Option<EventPosition> {
    match parts {
        [at_ms, id] => Some(EventPosition {
            at_ms: at_ms.parse().ok().filter(|at: &i64| *at >= 0)?,
            id: is_id(id).then(|| id.clone())?,
        }),
        _ => None,
    }
}

/// An event as every list answers it.
pub fn event_json(event: &SecurityEvent) -> serde_json::Value {
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.at_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok());
    serde_json::json!({
        "id": event.id,
        "type": event.kind.name(),
        "time": time,
        "user": event.user,
        "actor": event.actor,
        "ip": event.ip,
        "device": event.device,
        "detail": event.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_cursor_reads_back_only_for_its_own_list_and_a_sound_position() {
        let position = EventPosition {
            at_ms: 1_764_930_000_123,
            id: random_id(),
        };
        let next = cursor("user:7", &position);
        assert_eq!(read_cursor("user:7", &next), Some(position.clone()));
        assert_eq!(read_cursor("user:8", &next), None, "another user's list");
        let forged = |parts: &[&str]| pages::cursor("user:7", &parts.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        assert_eq!(read_cursor("user:7", &forged(&["-5", &position.id])), None);
        assert_eq!(read_cursor("user:7", &forged(&["12", "not-an-id"])), None);
        assert_eq!(read_cursor("user:7", &forged(&["12"])), None);
    }

    #[test]
    fn an_event_answers_its_time_in_rfc_3339_and_never_its_ttl() {
        let mut event = event(
            &crate::config::Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| "k".repeat(32))).unwrap(),
            EventKind::LoginFailed,
            EventSubject::address("ab12"),
            None,
            &SessionOrigin::default(),
        );
        event.at_ms = 1_764_930_000_123;
        let json = event_json(&event);
        assert_eq!(json["time"], "2025-12-05T10:20:00.123Z");
        assert_eq!(json["type"], "login_failed");
        assert_eq!(json["user"], "address:ab12");
        assert!(json.get("expires_at").is_none());
    }
}
