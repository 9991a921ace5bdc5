//! POST /account/admin/users/{pk}/sign-out/ — ends every session of a user at once, for staff
//! (Cognito's AdminUserGlobalSignOut): every refresh and access token of theirs is refused from
//! its next use on. Answers `{"revoked": N}`, the sessions that were live. The user can log in
//! again (deactivate them to keep them out).
//!
//! Only a superuser may sign a superuser out; an unknown pk is 404, a malformed one 400.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::admin::{self, serve_admin, staff_and_target};
use shared::http::{ApiError, Endpoint, json_response};
use shared::store::Store;
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Admin User Sign Out", "/account/admin/users/{pk}/sign-out");

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve_admin(app, &ENDPOINT, &request, |request| sign_out(app, request)).await
}

async fn sign_out<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let (occasion, target) = staff_and_target(app, &ENDPOINT, request).await?;
    let revoked = admin::sign_out(&app.store, &occasion, &target).await?;
    Ok(json_response(StatusCode::OK, &json!({"revoked": revoked})))
}
