//! POST /account/password/reset/ — mail a password reset link to an address, if a user has it.
//!
//! Every valid address gets the same answer in about the same time: the user and the address's
//! hourly quota are read side by side whatever the address, and the answer waits out
//! `EMAIL_ANSWER_FLOOR_MS` from the start, mail sent or not. Each request is a security event
//! (`password_reset_requested`) of the user, or of the address's keyed hash if none has it,
//! stored while the answer waits out the floor.

use std::time::Instant;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::mail::Language;
use shared::mail::delivery::{answer_no_sooner, mail_password_reset, requested_email};
use shared::security_log;
use shared::store::{EmailStore, EventKind, EventStore, EventSubject, MailPurpose, SessionOrigin, UserStore};
use shared::{App, now_unix};

pub const ENDPOINT: Endpoint = Endpoint::post("Password Reset", "/account/password/reset");

pub const SENT: &str = "Password reset e-mail has been sent.";

pub async fn handle<S: UserStore + EmailStore + EventStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| reset(app, request)).await
}

async fn reset<S: UserStore + EmailStore + EventStore>(
    app: &App<S>,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let started = Instant::now();
    let email = requested_email(request)?;
    let sent = send_link(app, &email, Language::of(request)).await;
    let requested = match &sent {
        Ok((subject, outcome)) => {
            let event = security_log::event(
                &app.config,
                EventKind::PasswordResetRequested,
                subject.clone(),
                None,
                &SessionOrigin::of(request),
            );
            vec![security_log::with_detail(event, "outcome", outcome)]
        }
        Err(_) => Vec::new(),
    };
    tokio::join!(
        answer_no_sooner(started, app.config.email.answer_floor_ms),
        security_log::record(&app.store, &requested)
    );
    sent?;
    Ok(json_response(StatusCode::OK, &json!({"detail": SENT})))
}

/// Mails the link if an active user has the address and the address is under its hourly limit.
/// Whose request it was (the user, or the address's keyed hash) and what came of it.
async fn send_link<S: UserStore + EmailStore>(
    app: &App<S>,
    email: &str,
    language: Language,
) -> Result<(EventSubject, &'static str), ApiError> {
    let settings = &app.config.email;
    let now = now_unix();
    let (user, allowed) = tokio::try_join!(
        app.store.find_by_email(email),
        app.store
            .take_mail_quota(email, MailPurpose::PasswordReset, settings.reset_mails_per_hour, now),
    )?;
    // Django's form mails active users only.
    let user = match user {
        Some(user) if user.is_active => user,
        Some(user) => return Ok((EventSubject::User(user.id), "inactive")),
        None => {
            tracing::info!("no reset mail: no active user has the address");
            let tag = app.email_keys()?.address_tag(email);
            return Ok((EventSubject::address(&tag), "unknown_address"));
        }
    };
    shared::logging::record_user(user.id);
    if !allowed {
        tracing::info!("reset mail withheld: hourly limit reached");
        return Ok((EventSubject::User(user.id), "limit_reached"));
    }
    mail_password_reset(app, &user, language, now).await?;
    Ok((EventSubject::User(user.id), "mailed"))
}
