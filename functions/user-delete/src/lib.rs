//! POST /account/user/delete/ — deletes the bearer's account, once its password is given again.
//!
//! The password is checked as password change checks `old_password`: one guess reserved against
//! the login throttle before Argon2 runs, so wrong passwords count (and lock) as at login.
//!
//! Then two steps, in this order:
//! 1. One transaction deletes the user, the email claim, the email's throttle record and the
//!    caller's session. From there on nobody can log in, every token of the user is refused
//!    (authentication finds no user) and the email can join again as a new user with a new `pk`
//!    (ids are never reused, so nothing left behind can belong to the new user).
//! 2. The user's other sessions are read (a Query of the partition) and deleted in batches.
//!
//! A crash between the two leaves no way to log in and session items that are dead already
//! (their user is gone) and that DynamoDB's TTL deletes once they expire: that is the cleanup
//! that finishes the job. So the answer is 204 once step 1 is done, whatever step 2 met.

use lambda_http::{Body, Request, Response};

use shared::account::{SIGN_IN_AGAIN, may_act_without_password, sweep_deleted_user};
use shared::auth::authenticate;
use shared::auth::password::{MAX_PASSWORD_CHARS, verify_password};
use shared::auth::throttle::{forget_failures, read_and_reserve_password_check};
use shared::http::input::{Fields, body_object};
use shared::http::{AccessDenied, ApiError, Endpoint, FieldErrors, no_content, serve};
use shared::security_log;
use shared::store::{EventKind, SessionOrigin, SessionProblem, Store};
use shared::{App, KeyUse, now_unix};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("User Delete", "/account/user/delete");

/// Worded as password change's wrong `old_password` (the reference has no delete route).
pub const WRONG_PASSWORD: &str = "Your password was entered incorrectly. Please enter it again.";

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| {
        delete_user(app, request)
    })
    .await
}

async fn delete_user<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    // Authentication comes before the body, as on password change.
    let authenticated = authenticate(app, request).await?;
    let user = &authenticated.user;
    let body = body_object(request)?;
    if user.has_usable_password() {
        let mut fields = Fields::new(&body);
        let password = fields.password("password", Some(MAX_PASSWORD_CHARS));
        fields.errors.into_result()?;
        let Some(password) = password else {
            return Err(ApiError::Internal);
        };
        // A guess at the password, as at login: the same throttle, the same 429.
        let throttle = app.config.login_throttle;
        read_and_reserve_password_check(&app.store, throttle, &user.email, now_unix()).await?;
        if !verify_password(&password, &user.password_hash) {
            return Err(ApiError::Validation(FieldErrors::single("password", WRONG_PASSWORD)));
        }
    } else if !may_act_without_password(user, &authenticated.session, now_unix()) {
        // Joined through a provider: no password to give; a recent sign-in through it stands for one.
        return Err(ApiError::Validation(FieldErrors::single("password", SIGN_IN_AGAIN)));
    }

    // Step 1 (it also forgets the email's guesses, this right one included).
    // Kept for the retention period after the account is gone.
    let deleted = security_log::own(
        &app.config,
        EventKind::AccountDeleted,
        user.id,
        &SessionOrigin::of(request),
    );
    let refused = match app
        .store
        .delete_account(user, &authenticated.session.id, std::slice::from_ref(&deleted))
        .await?
    {
        Ok(()) => None,
        // A password change or a logout landed since authentication: this session has ended.
        Err(SessionProblem::Revoked) => Some(AccessDenied::Invalid),
        Err(SessionProblem::NoActiveUser) => Some(AccessDenied::UserNotFound),
    };
    if let Some(denied) = refused {
        forget_failures(&app.store, app.config.login_throttle, &user.email).await?;
        return Err(ApiError::Access(denied));
    }
    tracing::info!("account deleted");
    security_log::log(&[deleted]);

    // Step 2: the other sessions (dead already) and the provider links.
    sweep_deleted_user(&app.store, user.id).await;
    Ok(no_content())
}
