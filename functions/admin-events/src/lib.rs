//! GET /account/admin/events/?user=&type=&limit=&cursor= — the security-event log, for staff,
//! newest first, within the retention period: everyone's, or one subject's (`user`: a pk, or
//! an `address:<hash>` subject as events show it), of one `type` or all. `limit` 1–100
//! (default 50); `{"results": [...], "next": cursor | null}`, a cursor bound to its filters.
//!
//! Everyone's log is the `events-by-day` index, a day a Query; one subject's is its own
//! partition. A call reads a bounded number of pages: a sparse filter can answer a short page
//! with a `next`, never a slow one.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::admin::serve_admin;
use shared::auth::authenticate_staff;
use shared::http::pages::{self, INVALID_CURSOR};
use shared::http::{ApiError, Endpoint, FieldErrors, json_response};
use shared::ids::is_id;
use shared::security_log::{event_json, retained_since};
use shared::store::{AdminStore, EventFilter, EventKind, EventPosition, EventSubject, SessionStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get("Admin Event List", "/account/admin/events");

pub const DEFAULT_LIMIT: usize = 50;
pub const INVALID_USER: &str = "Enter a user's pk or an address subject (address:<hex>).";

pub async fn handle<S: SessionStore + AdminStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve_admin(app, &ENDPOINT, &request, |request| list(app, request)).await
}

async fn list<S: SessionStore + AdminStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    authenticate_staff(app, request).await?;
    let mut errors = FieldErrors::default();
    let subject = pages::query_parameter(request, "user").and_then(|text| {
        let subject = subject_of(text.trim());
        if subject.is_none() {
            errors.add("user", INVALID_USER);
        }
        subject
    });
    let kind = pages::query_parameter(request, "type").and_then(|text| {
        let kind = EventKind::from_name(text.trim());
        if kind.is_none() {
            errors.add("type", format!("\"{}\" is not a valid choice.", text.trim()));
        }
        kind
    });
    let filter = EventFilter { subject, kind };
    let limit = pages::limit(request, DEFAULT_LIMIT, &mut errors);
    let list = list_name(&filter);
    let before = pages::after(request, &list, &mut errors);
    errors.into_result()?;
    let before = match before {
        Some(parts) => Some(position_of(&parts).ok_or_else(invalid_cursor)?),
        None => None,
    };
    let page = app
        .store
        .event_feed(&filter, retained_since(&app.config), before.as_ref(), limit)
        .await?;
    let results: Vec<_> = page.events.iter().map(event_json).collect();
    let next = page
        .next
        .map(|position| pages::cursor(&list, &[position.at_ms.to_string(), position.id]));
    Ok(json_response(
        StatusCode::OK,
        &json!({"results": results, "next": next}),
    ))
}

/// A subject as the API shows it: a pk, or `address:` and a lowercase hex hash.
fn subject_of(text: &str) -> Option<EventSubject> {
    if let Some(tag) = text.strip_prefix(EventSubject::ADDRESS_PREFIX) {
        let hex = !tag.is_empty()
            && tag.len() <= 128
            && tag.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        return hex.then(|| EventSubject::address(tag));
    }
    text.parse().ok().map(EventSubject::User)
}

/// The list a cursor continues: the filters' own words, so another filter's cursor is refused.
fn list_name(filter: &EventFilter) -> String {
    format!(
        "events|user={}|type={}",
        filter.subject.as_ref().map(EventSubject::key).unwrap_or_default(),
        filter.kind.map(EventKind::name).unwrap_or_default()
    )
}

/// A position of the log: a time and an event id, or an empty id (the start of a day, where a
/// call that read its share of days stopped).
fn position_of(parts: &[String]) -> Option<EventPosition> {
    match parts {
        [at_ms, id] if id.is_empty() || is_id(id) => Some(EventPosition {
            at_ms: at_ms.parse().ok().filter(|at: &i64| *at >= 0)?,
            id: id.clone(),
        }),
        _ => None,
    }
}

fn invalid_cursor() -> ApiError {
    ApiError::Validation(FieldErrors::single("cursor", INVALID_CURSOR))
}
