//! GET|PUT|PATCH /account/user/ — the bearer's own details: GET answers the user object, PUT and
//! PATCH change the names and (beyond the reference, which ignores them) gender and date of
//! birth. `pk` and `email` are read-only: sent values are ignored, as the reference does.
//!
//! Every field is optional in the reference's serializer (the model allows them blank), so a
//! PUT leaves a field it does not send as it is, exactly as a PATCH does.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use shared::account::{profile_fields, user_json};
use shared::auth::authenticate;
use shared::http::input::{Fields, body_object, today_utc};
use shared::http::{AccessDenied, ApiError, Endpoint, json_response, serve};
use shared::store::{SessionProblem, SessionStore, UserStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get_put_patch("User Details", "/account/user");

pub async fn handle<S: UserStore + SessionStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| user(app, request)).await
}

async fn user<S: UserStore + SessionStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    // Authentication comes before the body, as in the reference.
    let authenticated = authenticate(app, request).await?;
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return Ok(json_response(StatusCode::OK, &user_json(&authenticated.user)));
    }

    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    let changes = profile_fields(&mut fields, today_utc());
    fields.errors.into_result()?;
    if changes.is_empty() {
        // Nothing to write: the user as authentication just read it (consistently).
        return Ok(json_response(StatusCode::OK, &user_json(&authenticated.user)));
    }

    let user = &authenticated.user;
    // Conditional on the user being still active and at the epoch this request authenticated
    // under: a deactivation or password change that landed meanwhile wins, and is not undone.
    match app.store.update_profile(user.id, user.session_epoch, &changes).await? {
        Ok(updated) => {
            tracing::info!(user_id = user.id, "profile updated");
            Ok(json_response(StatusCode::OK, &user_json(&updated)))
        }
        // A password change revoked this session while we worked.
        Err(SessionProblem::Revoked) => Err(ApiError::Access(AccessDenied::Invalid)),
        Err(SessionProblem::NoActiveUser) => Err(ApiError::Access(AccessDenied::UserNotFound)),
    }
}
