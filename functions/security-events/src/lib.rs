//! GET /account/events/ — the bearer's own recent security activity, newest first, as Google's
//! "recent security activity": sign-ins and failed ones, password changes and resets, sessions
//! ended, an administrator's actions on the account. Kept for `EVENT_RETENTION_DAYS`.
//!
//! `?limit=` (1–100, default 20) and `?cursor=` (the `next` of the page before, which only
//! continues this user's list) page through it: `{"results": [...], "next": cursor | null}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use shared::auth::authenticate;
use shared::http::{ApiError, Endpoint, FieldErrors, json_response, serve};
use shared::security_log::{cursor, event_json, read_cursor, retained_since};
use shared::store::{EventStore, EventSubject, SessionStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get("Security Event List", "/account/events");

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
pub const INVALID_LIMIT: &str = "Ensure this value is a whole number from 1 to 100.";
pub const INVALID_CURSOR: &str = "Invalid cursor.";

pub async fn handle<S: SessionStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| list(app, request)).await
}

async fn list<S: SessionStore + EventStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let user_id = authenticated.user.id;
    // The cursor is bound to this list: another user's, or an admin query's, does not read.
    let query = format!("user:{user_id}");
    let parameters = request.query_string_parameters_ref();
    let parameter = |name: &str| parameters.and_then(|parameters| parameters.first(name));
    let mut errors = FieldErrors::default();
    let limit = match parameter("limit") {
        None => Some(DEFAULT_LIMIT),
        Some(text) => text.trim().parse().ok().filter(|limit| (1..=MAX_LIMIT).contains(limit)),
    };
    if limit.is_none() {
        errors.add("limit", INVALID_LIMIT);
    }
    let after = match parameter("cursor") {
        None => None,
        Some(text) => {
            let position = read_cursor(&query, text);
            if position.is_none() {
                errors.add("cursor", INVALID_CURSOR);
            }
            position
        }
    };
    errors.into_result()?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    let page = app
        .store
        .events_of(
            &EventSubject::User(user_id),
            retained_since(&app.config),
            after.as_ref(),
            limit,
        )
        .await?;
    let results: Vec<_> = page.events.iter().map(event_json).collect();
    let next = page.next.map(|position| cursor(&query, &position));
    Ok(json_response(
        StatusCode::OK,
        &json!({"results": results, "next": next}),
    ))
}
