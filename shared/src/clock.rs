//! The time, as the service reads and writes it: Unix seconds, and RFC 3339 UTC for people.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time in Unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 UTC timestamp for `date_joined` and `last_login`.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// [`timestamp`] of Unix seconds, as the sessions list shows times (`2026-11-26T12:00:00Z`).
pub fn unix_timestamp(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(timestamp)
        .unwrap_or_default()
}
