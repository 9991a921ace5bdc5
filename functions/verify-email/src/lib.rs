//! POST /account/join/verify-email/ — the key of a confirmation link marks its address verified.
//! A key that is malformed, forged, expired, for another address or already used: 404, as
//! allauth answers.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::http::input::{Fields, body_object};
use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::security_log;
use shared::store::{EmailStore, EventKind, EventStore, SessionOrigin};
use shared::tokens::links::EmailKeys;
use shared::{App, KeyUse, now_unix};

/// It signs tokens or makes and checks mailed links: it holds the signing keys (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Sign;

pub const ENDPOINT: Endpoint = Endpoint::post("Verify Email", "/account/join/verify-email");

pub async fn handle<S: EmailStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| verify(app, request)).await
}

async fn verify<S: EmailStore + EventStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    let key = fields.string("key", true, false, None);
    fields.errors.into_result()?;
    let Some(key) = key else {
        return Err(ApiError::Internal);
    };
    let (user_id, _) = EmailKeys::read_confirmation_key(&key).ok_or(ApiError::NotFound)?;
    let user = app.store.find_by_id(user_id).await?.ok_or(ApiError::NotFound)?;
    shared::logging::record_user(user.id);
    let timeout = app.config.email.email_confirm_timeout;
    if user.email_verified
        || !app
            .email_keys()?
            .check_confirmation_key(&key, user.id, &user.email, now_unix(), timeout)
    {
        return Err(ApiError::NotFound);
    }
    if !app.store.mark_email_verified(user.id, &user.email).await? {
        return Err(ApiError::NotFound);
    }
    // Only once the address is verified (an UpdateItem that may find it done already): this
    // rarely used route pays the one round trip more rather than record what did not happen.
    let verified = security_log::own(
        &app.config,
        EventKind::EmailVerified,
        user.id,
        &SessionOrigin::of(request),
    );
    security_log::record(&app.store, &[verified]).await;
    tracing::info!("address verified");
    Ok(json_response(StatusCode::OK, &json!({"detail": "ok"})))
}
