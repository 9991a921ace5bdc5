//! POST /account/login/ — check email and password, start a session, set the token cookies.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::account::{new_session, session_tokens, timestamp, user_json};
use shared::error::{ApiError, FieldErrors, NON_FIELD_ERRORS};
use shared::http::{ACCESS_COOKIE, Endpoint, REFRESH_COOKIE, json_response, serve, token_cookie, with_cookies};
use shared::input::{Fields, body_object};
use shared::password::{verify_against_stand_in, verify_password};
use shared::store::{LoginFailures, Store};
use shared::{App, now_unix};

pub const ENDPOINT: Endpoint = Endpoint::post("Login", "/account/login");

pub const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
pub const EMAIL_AND_PASSWORD_NEEDED: &str = "Must include \"email\" and \"password\".";

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| login(app, request)).await
}

async fn login<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    let email = fields.email("email", false, true);
    let password = fields.password("password", None);
    fields.errors.into_result()?;
    let (Some(email), Some(password)) = (email.filter(|email| !email.is_empty()), password) else {
        return Err(ApiError::Validation(FieldErrors::single(
            NON_FIELD_ERRORS,
            EMAIL_AND_PASSWORD_NEEDED,
        )));
    };

    // The throttle record and the user are read side by side: one round trip of latency.
    // Both exist or not whatever the email, so a throttled answer says nothing about accounts.
    let now = now_unix();
    let throttle = app.config.login_throttle;
    let (failures, user) = tokio::try_join!(
        async {
            match throttle.enabled() {
                true => app.store.login_failures(&email, now).await,
                false => Ok(LoginFailures::default()),
            }
        },
        app.store.find_by_email(&email)
    )?;
    if failures.locked_until > now {
        return Err(ApiError::Throttled(failures.locked_until - now));
    }

    // Unknown email, wrong password, inactive user: one answer, one Argon2 verification each.
    let accepted = match &user {
        Some(user) => verify_password(&password, &user.password_hash) && user.is_active,
        None => verify_against_stand_in(&password),
    };
    let Some(user) = user.filter(|_| accepted) else {
        if throttle.enabled() {
            let count = app
                .store
                .add_login_failure(&email, now, throttle.window, throttle.record_lifetime())
                .await?;
            if let Some(lockout) = throttle.lockout_after(count) {
                app.store.lock_logins(&email, now + lockout).await?;
            }
        }
        return Err(ApiError::Validation(FieldErrors::single(
            NON_FIELD_ERRORS,
            BAD_CREDENTIALS,
        )));
    };
    if failures.count > 0 {
        app.store.clear_login_failures(&email).await?;
    }

    let session = new_session(&app.tokens, now);
    let tokens = session_tokens(&app.tokens, user.id, &session, now)?;
    let logged_in_at = timestamp(time::OffsetDateTime::now_utc());
    if !app.store.start_session(&user, session, &logged_in_at).await? {
        // Deactivated, or the password changed, between our read and our write.
        return Err(ApiError::Validation(FieldErrors::single(
            NON_FIELD_ERRORS,
            BAD_CREDENTIALS,
        )));
    }
    shared::logging::record_user(user.id);
    tracing::info!("logged in");
    let secure = app.config.cookie_secure;
    let response = json_response(
        StatusCode::OK,
        &json!({"access": tokens.access.token, "refresh": tokens.refresh.token, "user": user_json(&user)}),
    );
    Ok(with_cookies(
        response,
        [
            token_cookie(ACCESS_COOKIE, &tokens.access.token, app.tokens.access_lifetime, secure),
            token_cookie(
                REFRESH_COOKIE,
                &tokens.refresh.token,
                app.tokens.refresh_lifetime,
                secure,
            ),
        ],
    ))
}
