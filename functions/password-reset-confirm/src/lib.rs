//! POST /account/password/reset/confirm/ — set a new password with the `uid` and `token` of a
//! reset link. Every session of the user ends, the login throttle forgets the address, and the
//! token is spent: it signs the old password hash, and the write is conditional on that hash,
//! so of two racing confirmations exactly one succeeds.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use shared::account::check_new_password;
use shared::auth::password::{MAX_PASSWORD_CHARS, hash_password};
use shared::http::input::{Fields, body_object};
use shared::http::{ApiError, Endpoint, FieldErrors, json_response, serve};
use shared::security_log;
use shared::store::{EmailStore, EventKind, SessionOrigin};
use shared::tokens::links::decode_uid;
use shared::{App, KeyUse, now_unix};

/// It signs tokens or makes and checks mailed links: it holds the signing keys (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Sign;

pub const ENDPOINT: Endpoint = Endpoint::post("Password Reset Confirm", "/account/password/reset/confirm");

pub const RESET_DONE: &str = "Password has been reset with the new password.";
/// dj-rest-auth's answer for a `uid` or a `token` that does not hold.
pub const INVALID_VALUE: &str = "Invalid value";

pub async fn handle<S: EmailStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| confirm(app, request)).await
}

fn invalid(field: &str) -> ApiError {
    ApiError::Validation(FieldErrors::single(field, INVALID_VALUE))
}

async fn confirm<S: EmailStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    // The serializer's field order: every field error before any check across them.
    let new_password1 = fields.password("new_password1", Some(MAX_PASSWORD_CHARS));
    let new_password2 = fields.password("new_password2", Some(MAX_PASSWORD_CHARS));
    let uid = fields.string("uid", true, false, None);
    let token = fields.string("token", true, false, None);
    fields.errors.into_result()?;
    let (Some(new_password1), Some(new_password2), Some(uid), Some(token)) = (new_password1, new_password2, uid, token)
    else {
        return Err(ApiError::Internal);
    };

    // Then as dj-rest-auth: the uid, the token, the passwords.
    let user_id = decode_uid(&uid).ok_or_else(|| invalid("uid"))?;
    let user = app.store.find_by_id(user_id).await?.ok_or_else(|| invalid("uid"))?;
    shared::logging::record_user(user.id);
    let timeout = app.config.email.password_reset_timeout;
    if !user.is_active || !app.email_keys()?.check_reset_token(&user, &token, now_unix(), timeout) {
        return Err(invalid("token"));
    }
    check_new_password(new_password1.expose_secret(), new_password2.expose_secret(), &user)?;

    let password_hash = hash_password(&new_password2).map_err(|_| ApiError::Internal)?;
    // The link's holder acts as the user: they are its actor.
    let done = security_log::own(
        &app.config,
        EventKind::PasswordResetDone,
        user.id,
        &SessionOrigin::of(request),
    );
    if !app
        .store
        .reset_password(&user, &password_hash, std::slice::from_ref(&done))
        .await?
    {
        // Another confirmation of this token (or a login, a password change) landed first.
        return Err(invalid("token"));
    }
    security_log::log(&[done]);
    tracing::info!("password reset; every session revoked");
    Ok(json_response(StatusCode::OK, &json!({"detail": RESET_DONE})))
}
