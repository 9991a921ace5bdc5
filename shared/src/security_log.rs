//! The security-event log as the routes write it: an event made from the request, one JSON log
//! line per event (`"kind": "security_event"`, for Logs Insights or a SIEM subscription), and
//! the stored item (`crate::store::EventStore`).
//!
//! Where the action is a transaction already, its events ride in it (the store's `events`
//! arguments) and are logged once it committed: an event exists exactly when its action
//! happened. Other events are put beside the action's own write ([`record`]); a failed put
//! never fails the request, and the log line carries the event either way.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use crate::config::Config;
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
        expires_at: (at_ms + config.event_retention_days * MILLIS_PER_DAY) / 1000,
    }
}

/// The user acting on their own account: they are its subject and its actor.
pub fn own(config: &Config, kind: EventKind, user_id: u64, origin: &SessionOrigin) -> SecurityEvent {
    event(config, kind, EventSubject::User(user_id), Some(user_id), origin)
}

/// The oldest time, in Unix milliseconds, still within the retention period.
pub fn retained_since(config: &Config) -> i64 {
    let now_ms = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    now_ms - config.event_retention_days * MILLIS_PER_DAY
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

/// The opaque `next` of a list: where the next page starts, bound to the query it continues
/// (`query`: the list and its filters, as the route names them), so that a cursor of another
/// query — another user's list, another filter — is refused rather than silently mixed in.
pub fn cursor(query: &str, position: &EventPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}|{query}|{}|{}", position.at_ms, position.id))
}

/// The position a cursor of `query` names; `None` if it is malformed or of another query.
pub fn read_cursor(query: &str, cursor: &str) -> Option<EventPosition> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.rsplitn(3, '|');
    let (id, at_ms, head) = (parts.next()?, parts.next()?, parts.next()?);
    let at_ms: i64 = at_ms.parse().ok().filter(|at| *at >= 0)?;
    (head == format!("{CURSOR_VERSION}|{query}") && is_id(id)).then(|| EventPosition {
        at_ms,
        id: id.to_owned(),
    })
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

const CURSOR_VERSION: &str = "v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_for_its_own_query() {
        let position = EventPosition {
            at_ms: 1_764_930_000_123,
            id: random_id(),
        };
        let next = cursor("user:7", &position);
        assert_eq!(read_cursor("user:7", &next), Some(position.clone()));
        assert_eq!(read_cursor("user:8", &next), None, "another user's list");
        assert_eq!(read_cursor("user:7|x", &next), None);
        assert!(!next.contains("user:7"), "opaque: {next}");
        for malformed in [
            "",
            "!!!",
            "djE",
            &URL_SAFE_NO_PAD.encode("v1|user:7|-5|abc"),
            &next[1..],
        ] {
            assert_eq!(read_cursor("user:7", malformed), None, "{malformed}");
        }
        let other_id = URL_SAFE_NO_PAD.encode(format!("v1|user:7|{}|not-an-id", position.at_ms));
        assert_eq!(read_cursor("user:7", &other_id), None);
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
