//! POST /account/admin/users/{pk}/password-reset/ — mails a user the password reset link their
//! own request would (the same mail, the same per-address hourly limit), for staff. 202
//! `{"detail": "Password reset e-mail has been sent."}`.
//!
//! Staff are told what the user's own route keeps quiet (it must not tell addresses apart):
//! an inactive user gets no mail (400, as Django's form mails active users only), a reached
//! hourly limit is 429, a mail service that refused is 503. The password stays as it is until
//! the user follows the link. Only a superuser may do this for a superuser.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::admin::{Action, permit, serve_admin, staff_and_target};
use shared::http::{ApiError, Endpoint, json_response};
use shared::mail::Language;
use shared::mail::delivery::send_password_reset;
use shared::security_log;
use shared::store::{EventKind, MAIL_QUOTA_WINDOW_SECONDS, Store};
use shared::{App, now_unix};

pub const ENDPOINT: Endpoint = Endpoint::post("Admin User Password Reset", "/account/admin/users/{pk}/password-reset");

pub const SENT: &str = "Password reset e-mail has been sent.";
pub const INACTIVE: &str = "The user is inactive: reset e-mails go to active users only.";

pub async fn handle<S: Store>(app: &App<S>, request: Request) -> Response<Body> {
    serve_admin(app, &ENDPOINT, &request, |request| reset(app, request)).await
}

async fn reset<S: Store>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let (occasion, target) = staff_and_target(app, &ENDPOINT, request).await?;
    permit(&occasion.actor, &target, Action::PasswordReset)?;
    if !target.is_active {
        return Err(ApiError::Refused(INACTIVE));
    }
    let sent = send_password_reset(app, &target, Language::of(request), now_unix()).await?;
    let outcome = match sent {
        Some(true) => "mailed",
        Some(false) => "not_sent",
        None => "limit_reached",
    };
    let event = security_log::with_detail(
        occasion.event(EventKind::AdminPasswordReset, &target),
        "outcome",
        outcome,
    );
    security_log::record(&app.store, &[event]).await;
    match sent {
        Some(true) => Ok(json_response(StatusCode::ACCEPTED, &json!({"detail": SENT}))),
        // The mail service refused or the address takes no mail: logged (an alert) by delivery.
        Some(false) => Err(ApiError::Unavailable),
        None => Err(ApiError::Throttled(MAIL_QUOTA_WINDOW_SECONDS)),
    }
}
