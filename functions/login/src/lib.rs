//! POST /account/login/ — check email and password, start a session, set the token cookies.

use lambda_http::{Body, Request, Response};

use shared::account::{login_answer, new_session, session_tokens};
use shared::auth::password::{verify_against_stand_in, verify_password};
use shared::auth::throttle::{forget_failures, reserve_password_check};
use shared::clock::timestamp;
use shared::config::EmailVerification;
use shared::http::input::{Fields, body_object};
use shared::http::{ApiError, Endpoint, FieldErrors, NON_FIELD_ERRORS, serve};
use shared::security_log;
use shared::store::{EventKind, EventSubject, SecurityEvent, SessionOrigin, Store, ThrottleRecord, User};
use shared::{App, KeyUse, now_unix};

/// It signs tokens or makes and checks mailed links: it holds the signing keys (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Sign;

pub const ENDPOINT: Endpoint = Endpoint::post("Login", "/account/login");

pub const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
pub const EMAIL_AND_PASSWORD_NEEDED: &str = "Must include \"email\" and \"password\".";
/// dj-rest-auth's answer to the right password for an unverified address under mandatory
/// verification.
pub const EMAIL_NOT_VERIFIED: &str = "E-mail is not verified.";

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
    let (seen, user) = tokio::try_join!(
        async {
            match throttle.enabled() {
                true => app.store.throttle_record(&email).await,
                false => Ok(ThrottleRecord::default()),
            }
        },
        app.store.find_by_email(&email)
    )?;
    let origin = SessionOrigin::of(request);
    // Counted as a wrong guess before Argon2 runs, so parallel guesses cannot outrun the count.
    if let Err(refused) = reserve_password_check(&app.store, throttle, &email, now, seen).await {
        if matches!(refused, ApiError::Throttled(_)) {
            let throttled = attempt_event(app, EventKind::LoginThrottled, user.as_ref(), &email, &origin);
            security_log::record(&app.store, &[throttled]).await;
        }
        return Err(refused);
    }

    // Unknown email, wrong password, inactive user: one answer, one Argon2 verification each.
    let (accepted, failure) = match &user {
        Some(user) if !verify_password(&password, &user.password_hash) => (false, "wrong_password"),
        Some(user) => (user.is_active, "inactive"),
        None => (verify_against_stand_in(&password), "unknown_address"),
    };
    let bad_credentials = || ApiError::Validation(FieldErrors::single(NON_FIELD_ERRORS, BAD_CREDENTIALS));
    let user = match user {
        Some(user) if accepted => user,
        refused => {
            let failed = attempt_event(app, EventKind::LoginFailed, refused.as_ref(), &email, &origin);
            security_log::record(&app.store, &[security_log::with_detail(failed, "reason", failure)]).await;
            return Err(bad_credentials());
        }
    };
    if app.config.email.verification == EmailVerification::Mandatory && !user.email_verified {
        // The right password: its guesses are forgotten, but no session starts.
        let failed = attempt_event(app, EventKind::LoginFailed, Some(&user), &email, &origin);
        let failed = security_log::with_detail(failed, "reason", "email_not_verified");
        let ((), forgotten) = tokio::join!(
            security_log::record(&app.store, std::slice::from_ref(&failed)),
            forget_failures(&app.store, throttle, &email)
        );
        forgotten?;
        return Err(ApiError::Validation(FieldErrors::single(
            NON_FIELD_ERRORS,
            EMAIL_NOT_VERIFIED,
        )));
    }

    let session = new_session(&app.tokens, now, origin.clone());
    let tokens = session_tokens(&app.tokens, user.id, &session, now)?;
    let logged_in_at = timestamp(time::OffsetDateTime::now_utc());
    let logged_in = security_log::own(&app.config, EventKind::Login, user.id, &origin);
    let (started, ()) = tokio::try_join!(
        async {
            Ok(app
                .store
                .start_session(&user, session, &logged_in_at, std::slice::from_ref(&logged_in))
                .await?)
        },
        forget_failures(&app.store, throttle, &email),
    )?;
    if !started {
        // Deactivated, or the password changed, between our read and our write.
        return Err(bad_credentials());
    }
    security_log::log(&[logged_in]);
    shared::logging::record_user(user.id);
    tracing::info!("logged in");
    Ok(login_answer(app, &user, &tokens))
}

/// An event of a login attempt on `email`: about its user if there is one, else about the
/// address, named by its keyed hash (never the address itself).
fn attempt_event<S>(
    app: &App<S>,
    kind: EventKind,
    user: Option<&User>,
    email: &str,
    origin: &SessionOrigin,
) -> SecurityEvent {
    let subject = match user {
        Some(user) => EventSubject::User(user.id),
        None => match app.email_keys() {
            Ok(keys) => EventSubject::address(&keys.address_tag(email)),
            // Only a function without the signing keys lands here, and login holds them.
            Err(_) => EventSubject::address("unkeyed"),
        },
    };
    security_log::event(&app.config, kind, subject, None, origin)
}
