//! POST /account/join/ — register a user and start their first session. With
//! `EMAIL_VERIFICATION` `optional` or `mandatory` a confirmation link is mailed too; with
//! `mandatory` no session starts: the answer says the mail was sent, and login waits for the
//! address to be verified (allauth and dj-rest-auth's behaviour).
//!
//! Whether an address is registered: the tutorial's join says so (400, clients depend on it).
//! Under `mandatory` it says nothing, as allauth's enumeration prevention: a taken address gets
//! the same 201 as a new one, after the same work, and its owner an "account already exists"
//! mail instead of a confirmation.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use shared::account::{new_session, personal_attributes, profile_fields, session_tokens, user_json};
use shared::auth::password::{MAX_PASSWORD_CHARS, hash_password, similarity_problem, strength_problems};
use shared::clock::timestamp;
use shared::config::EmailVerification;
use shared::http::input::{Fields, body_object, today_utc};
use shared::http::{ApiError, Endpoint, FieldErrors, NON_FIELD_ERRORS, json_response, serve};
use shared::mail::Language;
use shared::mail::delivery::{send_account_exists, send_confirmation};
use shared::security_log;
use shared::store::{EmailStore, EventKind, EventSubject, NewUser, Registration, SessionOrigin, UserStore};
use shared::{App, now_unix};

pub const ENDPOINT: Endpoint = Endpoint::post("Register", "/account/join");

pub const EMAIL_TAKEN: &str = "A user is already registered with this email address.";
pub const PASSWORDS_DIFFER: &str = "The two password fields didn't match.";
/// dj-rest-auth's answer to a join under mandatory verification.
pub const VERIFICATION_SENT: &str = "Verification e-mail sent.";

pub async fn handle<S: UserStore + EmailStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| join(app, request)).await
}

async fn join<S: UserStore + EmailStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    let verification = app.config.email.verification;
    let mandatory = verification == EmailVerification::Mandatory;
    // Field by field, in the reference's order, collecting every error before answering.
    let email = fields.email("email", true, false);
    if let Some(email) = &email
        && !mandatory
        && app.store.email_registered(email).await?
    {
        fields.errors.add("email", EMAIL_TAKEN);
    }
    let password1 = fields.password("password1", Some(MAX_PASSWORD_CHARS));
    if let Some(password) = &password1 {
        for problem in strength_problems(password.expose_secret()) {
            fields.errors.add("password1", problem);
        }
    }
    let password2 = fields.password("password2", Some(MAX_PASSWORD_CHARS));
    let profile = profile_fields(&mut fields, today_utc());
    fields.errors.into_result()?;
    let first_name = profile.first_name.unwrap_or_default();
    let last_name = profile.last_name.unwrap_or_default();
    let (Some(email), Some(password1), Some(password2)) = (email, password1, password2) else {
        return Err(ApiError::Internal);
    };

    // Then the checks across fields, one at a time, as the reference does.
    if password1.expose_secret() != password2.expose_secret() {
        return Err(ApiError::Validation(FieldErrors::single(
            NON_FIELD_ERRORS,
            PASSWORDS_DIFFER,
        )));
    }
    let attributes = personal_attributes(&email, &first_name, &last_name);
    if let Some(problem) = similarity_problem(password1.expose_secret(), &attributes) {
        return Err(ApiError::Validation(FieldErrors::single(NON_FIELD_ERRORS, problem)));
    }

    let password_hash = hash_password(&password1).map_err(|_| ApiError::Internal)?;
    let now = now_unix();
    let origin = SessionOrigin::of(request);
    let session = new_session(&app.tokens, now, origin.clone());
    // About the user the store creates: it writes their id in (0 until then).
    let mut joined = security_log::own(&app.config, EventKind::Join, 0, &origin);
    let first_session = (verification != EmailVerification::Mandatory).then(|| session.clone());
    let new_user = NewUser {
        email,
        password_hash,
        first_name,
        last_name,
        gender: profile.gender.unwrap_or_default(),
        date_of_birth: profile.date_of_birth.flatten(),
        is_staff: false,
        is_superuser: false,
        joined_at: timestamp(time::OffsetDateTime::now_utc()),
    };
    let email = new_user.email.clone();
    let user = match app
        .store
        .create_user(new_user, first_session, std::slice::from_ref(&joined))
        .await?
    {
        Registration::Created(user) => user,
        // Taken, and the answer must not say so: its owner is told instead.
        Registration::EmailTaken if mandatory => {
            if let Err(error) = send_account_exists(app, &email, Language::of(request), now).await {
                tracing::warn!(%error, "join's account-exists mail not sent");
            }
            return Ok(verification_sent());
        }
        // Lost a race with another join of the same email (or taken: the tutorial's answer).
        Registration::EmailTaken => {
            return Err(ApiError::Validation(FieldErrors::single("email", EMAIL_TAKEN)));
        }
    };
    shared::logging::record_user(user.id);
    tracing::info!("user joined");
    (joined.user, joined.actor) = (EventSubject::User(user.id), Some(user.id));
    security_log::log(&[joined]);
    if verification != EmailVerification::None {
        // The user exists now: a mail service failing must not make the client join again
        // (it would be told the address is taken). Logged; resend-email sends it later.
        match send_confirmation(app, &user, Language::of(request), now).await {
            Ok(_) => {}
            Err(_) => tracing::warn!("join's confirmation mail not sent; the user can ask again"),
        }
    }
    if mandatory {
        return Ok(verification_sent());
    }
    let tokens = session_tokens(&app.tokens, user.id, &session, now)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"access": tokens.access.token, "refresh": tokens.refresh.token, "user": user_json(&user)}),
    ))
}

/// dj-rest-auth's answer to a join under mandatory verification: no tokens, the mail is on its way.
fn verification_sent() -> Response<Body> {
    json_response(StatusCode::CREATED, &json!({"detail": VERIFICATION_SENT}))
}
