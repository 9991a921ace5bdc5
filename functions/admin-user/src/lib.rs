//! GET|PATCH|DELETE /account/admin/users/{pk}/ — one user, for staff (the tutorial's Django
//! admin change page for its custom user).
//!
//! - GET: every field but the password hash, the user's live sessions (as `/account/sessions/`
//!   lists them) and their 20 latest security events.
//! - PATCH: any of `is_active, is_staff, is_superuser, first_name, last_name, gender,
//!   date_of_birth, email_verified`, validated as the user's own PATCH validates; other fields
//!   are read-only and ignored. A deactivation ends every session at once. Answers as GET.
//! - DELETE: as the user's own delete does (204).
//!
//! The rules are `shared::admin`'s: only a superuser changes the flags or acts on a superuser,
//! nobody deactivates, demotes or deletes themself here, the last active superuser stays one
//! (400); the write is conditional on what was read, so a change racing another admin's gets
//! 409 instead of undoing it. An unknown pk is 404, a malformed one 400.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use shared::account::live_sessions;
use shared::admin::{self, admin_user_json, serve_admin, staff_and_target};
use shared::http::input::{body_object, today_utc};
use shared::http::{ApiError, Endpoint, json_response, no_content};
use shared::security_log::retained_since;
use shared::store::{EventSubject, Store, User};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get_patch_delete("Admin User Instance", "/account/admin/users/{pk}");

/// The latest events the view shows (the event log has the rest).
pub const EVENTS_SHOWN: usize = 20;

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve_admin(app, &ENDPOINT, &request, |request| user(app, request)).await
}

async fn user<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let (occasion, target) = staff_and_target(app, &ENDPOINT, request).await?;
    match *request.method() {
        Method::PATCH => {
            let body = body_object(request)?;
            let changes = admin::admin_changes(&body, today_utc())?;
            let updated = admin::update(&app.store, &occasion, &target, &changes).await?;
            view(app, &updated).await
        }
        Method::DELETE => {
            admin::delete(&app.store, &occasion, &target).await?;
            Ok(no_content())
        }
        _ => view(app, &target).await,
    }
}

/// The admin view of `user`: their sessions and their latest events, read side by side.
async fn view<S: Store>(app: &App<S>, user: &User) -> Result<Response<Body>, ApiError> {
    let subject = EventSubject::User(user.id);
    let (sessions, events) = tokio::try_join!(live_sessions(app, user), async {
        app.store
            .events_of(&subject, retained_since(&app.config), None, EVENTS_SHOWN)
            .await
            .map_err(ApiError::from)
    })?;
    let body = admin_user_json(user, &sessions, &events.events, |session| {
        app.tokens.session_end(session.started_at())
    });
    Ok(json_response(StatusCode::OK, &body))
}
