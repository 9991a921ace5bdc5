//! POST /account/join/resend-email/ — mail the confirmation link again to an address that a user
//! has and has not verified, when addresses are verified at all (`EMAIL_VERIFICATION` optional
//! or mandatory; with `none`, the tutorial's default, nothing is ever mailed). Every valid address
//! gets the same answer in about the same time (as password reset), and each address gets at
//! most `EMAIL_CONFIRM_MAX_PER_HOUR` mails an hour.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::config::EmailVerification;
use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::mail::Language;
use shared::mail::delivery::{answer_no_sooner, mail_confirmation, requested_email};
use shared::store::{EmailStore, MailPurpose, UserStore};
use shared::{App, now_unix};

pub const ENDPOINT: Endpoint = Endpoint::post("Resend Email Verification", "/account/join/resend-email");

pub async fn handle<S: UserStore + EmailStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| resend(app, request)).await
}

async fn resend<S: UserStore + EmailStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let started = Instant::now();
    let email = requested_email(request)?;
    let sent = async {
        if app.config.email.verification == EmailVerification::None {
            // Nobody is asked to confirm an address: no mail to anyone, the same answer.
            tracing::info!("no confirmation mail: addresses are not verified here");
            return Ok(());
        }
        // The user and the address's hourly quota side by side, whatever the address: the same
        // reads, and the same failures, for every address.
        let settings = &app.config.email;
        let now = now_unix();
        let (user, allowed) = tokio::try_join!(
            app.store.find_by_email(&email),
            app.store.take_mail_quota(
                &email,
                MailPurpose::EmailConfirmation,
                settings.confirm_mails_per_hour,
                now
            ),
        )?;
        match user {
            Some(user) if user.is_active && !user.email_verified && allowed => {
                shared::logging::record_user(user.id);
                mail_confirmation(app, &user, Language::of(request), now).await?;
            }
            Some(user) if user.is_active && !user.email_verified => {
                tracing::info!(user_id = user.id, "confirmation mail withheld: hourly limit reached");
            }
            // Unknown, inactive or verified: nothing to send, the same answer.
            _ => tracing::info!("no confirmation mail: no unverified active user has the address"),
        }
        Ok::<(), ApiError>(())
    }
    .await;
    answer_no_sooner(started, app.config.email.answer_floor_ms).await;
    sent?;
    Ok(json_response(StatusCode::OK, &json!({"detail": "ok"})))
}
