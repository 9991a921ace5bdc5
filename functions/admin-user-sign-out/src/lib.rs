//! POST /account/admin/users/{pk}/sign-out/ — ends every session of a user at once, for staff
//! (Cognito's AdminUserGlobalSignOut): every refresh and access token of theirs is refused from
//! its next use on. Answers `{"revoked": N}`, the sessions that were live. The user can log in
//! again (deactivate them to keep them out).
//!
//! Only a superuser may sign a superuser out; an unknown pk is 404, a malformed one 400.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::admin::{self, Actor, Occasion, read_pk, serve_admin};
use shared::auth::authenticate_staff;
use shared::http::{ApiError, Endpoint, json_response};
use shared::store::{SessionOrigin, Store};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Admin User Sign Out", "/account/admin/users/{pk}/sign-out");

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve_admin(app, &ENDPOINT, &request, |request| sign_out(app, request)).await
}

async fn sign_out<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let staff = authenticate_staff(app, request).await?;
    let pk = read_pk(&ENDPOINT.parameter(request, "pk").unwrap_or_default())?;
    let target = app.store.find_by_id(pk).await?.ok_or(ApiError::NotFound)?;
    let occasion = Occasion {
        actor: Actor::Staff(staff.user),
        origin: SessionOrigin::of(request),
        retention_days: app.config.event_retention_days,
    };
    let revoked = admin::sign_out(&app.store, &occasion, &target).await?;
    Ok(json_response(StatusCode::OK, &json!({"revoked": revoked})))
}
