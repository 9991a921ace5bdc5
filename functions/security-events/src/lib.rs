//! GET /account/events/ — the bearer's own recent security activity, newest first, as Google's
//! "recent security activity": sign-ins and failed ones, password changes and resets, sessions
//! ended, an administrator's actions on the account. Kept for `EVENT_RETENTION_DAYS`.
//!
//! `?limit=` (1–100, default 20) and `?cursor=` (the `next` of the page before, which only
//! continues this user's list) page through it: `{"results": [...], "next": cursor | null}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::auth::authenticate;
use shared::http::pages::{self, INVALID_CURSOR};
use shared::http::{ApiError, Endpoint, FieldErrors, json_response, serve};
use shared::security_log::{cursor, event_json, position_of, retained_since};
use shared::store::{EventStore, EventSubject, SessionStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get("Security Event List", "/account/events");

pub const DEFAULT_LIMIT: usize = 20;

pub async fn handle<S: SessionStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| list(app, request)).await
}

async fn list<S: SessionStore + EventStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let user_id = authenticated.user.id;
    // The cursor is bound to this list: another user's, or an admin query's, does not read.
    let query = format!("user:{user_id}");
    let mut errors = FieldErrors::default();
    let limit = pages::limit(request, DEFAULT_LIMIT, &mut errors);
    let after = pages::after(request, &query, &mut errors);
    errors.into_result()?;
    let after = match after {
        Some(position) => Some(position_of(&position).ok_or_else(invalid_cursor)?),
        None => None,
    };
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

fn invalid_cursor() -> ApiError {
    ApiError::Validation(FieldErrors::single("cursor", INVALID_CURSOR))
}
