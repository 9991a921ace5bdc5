//! POST /account/password/change/ — set a new password for the bearer; every other session of
//! the user is revoked at once, the session making the change keeps working.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use shared::account::{SIGN_IN_AGAIN, check_new_password, may_act_without_password};
use shared::auth::authenticate;
use shared::auth::password::{MAX_PASSWORD_CHARS, hash_password, verify_password};
use shared::auth::throttle::{forget_failures, read_and_reserve_password_check};
use shared::http::input::{Fields, body_object};
use shared::http::{AccessDenied, ApiError, Endpoint, FieldErrors, json_response, serve};
use shared::security_log;
use shared::store::{EventKind, SessionOrigin, Store};
use shared::{App, KeyUse, now_unix};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Password Change", "/account/password/change");

pub const WRONG_OLD_PASSWORD: &str = "Your old password was entered incorrectly. Please enter it again.";
/// Django's form says it with a typographic apostrophe (U+2019), unlike join.
pub const PASSWORDS_DIFFER: &str = shared::account::NEW_PASSWORDS_DIFFER;

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| {
        change_password(app, request)
    })
    .await
}

async fn change_password<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    // Authentication comes before the body, as in the reference.
    let authenticated = authenticate(app, request).await?;
    let user = &authenticated.user;
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    // A user who joined through a provider has no password to give: a recent sign-in through the
    // provider stands for it (their first password), else they are told how to get one.
    if !user.has_usable_password() {
        if !may_act_without_password(user, &authenticated.session, now_unix()) {
            return Err(ApiError::Validation(FieldErrors::single("old_password", SIGN_IN_AGAIN)));
        }
    } else if fields.contains("old_password") || app.config.old_password_required {
        let old_password = fields.password("old_password", Some(MAX_PASSWORD_CHARS));
        if let Some(old_password) = old_password {
            // A guess at the current password, as at login: the same throttle, the same 429.
            let throttle = app.config.login_throttle;
            read_and_reserve_password_check(&app.store, throttle, &user.email, now_unix()).await?;
            match verify_password(&old_password, &user.password_hash) {
                true => forget_failures(&app.store, throttle, &user.email).await?,
                false => fields.errors.add("old_password", WRONG_OLD_PASSWORD),
            }
        }
    }
    let new_password1 = fields.password("new_password1", Some(MAX_PASSWORD_CHARS));
    let new_password2 = fields.password("new_password2", Some(MAX_PASSWORD_CHARS));
    fields.errors.into_result()?;
    let (Some(new_password1), Some(new_password2)) = (new_password1, new_password2) else {
        return Err(ApiError::Internal);
    };

    check_new_password(new_password1.expose_secret(), new_password2.expose_secret(), user)?;

    let password_hash = hash_password(&new_password2).map_err(|_| ApiError::Internal)?;
    let changed_event = security_log::own(
        &app.config,
        EventKind::PasswordChanged,
        user.id,
        &SessionOrigin::of(request),
    );
    let changed = app
        .store
        .change_password(
            user.id,
            &authenticated.session.id,
            user.session_epoch,
            &password_hash,
            std::slice::from_ref(&changed_event),
        )
        .await?;
    if !changed {
        // The session was revoked, or another change landed, while we worked.
        return Err(ApiError::Access(AccessDenied::Invalid));
    }
    security_log::log(&[changed_event]);
    tracing::info!(user_id = user.id, "password changed; other sessions revoked");
    Ok(json_response(
        StatusCode::OK,
        &json!({"detail": "New password has been saved."}),
    ))
}
