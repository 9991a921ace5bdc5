//! GET /account/admin/users/ — the users, for staff (the tutorial registers its user in
//! Django's admin): ordered by canonical email, `?q=` a case-insensitive prefix of it,
//! `?is_active=` and `?is_staff=` filters (`true`/`false`), combinable, `?limit=` 1–100
//! (default 50) and `?cursor=` the `next` of the page before: `{"results": [...], "next":
//! cursor | null}`. One Query of the `users-by-email` index a page (a few when the filters
//! leave pages short), never a scan; never a password hash.
//!
//! The caller must be an active staff user, as the store says now: anyone else 403.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use shared::admin::{listed_user_json, serve_admin, user_list_name};
use shared::auth::authenticate_staff;
use shared::http::pages::{self, INVALID_CURSOR};
use shared::http::{ApiError, Endpoint, FieldErrors, json_response};
use shared::store::{SessionStore, UserDirectory, UserPosition, UserQuery};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get("Admin User List", "/account/admin/users");

pub const DEFAULT_LIMIT: usize = 50;
/// The longest `q` read: no email is longer (RFC 5321's 254), so longer matches nobody.
pub const MAX_QUERY_CHARS: usize = 254;

pub async fn handle<S: SessionStore + UserDirectory>(app: &App<S>, request: Request) -> Response<Body> {
    serve_admin(app, &ENDPOINT, &request, |request| list(app, request)).await
}

async fn list<S: SessionStore + UserDirectory>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    authenticate_staff(app, request).await?;
    let mut errors = FieldErrors::default();
    // Canonical as login reads an address: trimmed, lower case (a prefix need not be one).
    let email_prefix: String = pages::query_parameter(request, "q")
        .unwrap_or_default()
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_QUERY_CHARS + 1)
        .collect();
    let query = UserQuery {
        email_prefix,
        is_active: pages::flag(request, "is_active", &mut errors),
        is_staff: pages::flag(request, "is_staff", &mut errors),
    };
    let limit = pages::limit(request, DEFAULT_LIMIT, &mut errors);
    let list = user_list_name(&query);
    let after = pages::after(request, &list, &mut errors);
    errors.into_result()?;
    let after = match after.as_deref() {
        None => None,
        Some([email, id]) => Some(UserPosition {
            email: email.clone(),
            id: id.parse().map_err(|_| invalid_cursor())?,
        }),
        Some(_) => return Err(invalid_cursor()),
    };
    let page = app.store.list_users(&query, after.as_ref(), limit).await?;
    let results: Vec<Value> = page.users.iter().map(listed_user_json).collect();
    let next = page
        .next
        .map(|position| pages::cursor(&list, &[position.email, position.id.to_string()]));
    Ok(json_response(
        StatusCode::OK,
        &json!({"results": results, "next": next}),
    ))
}

fn invalid_cursor() -> ApiError {
    ApiError::Validation(FieldErrors::single("cursor", INVALID_CURSOR))
}
