//! What the routes that send mail share: the per-address hourly limit, the confirmation mail
//! (join and resend), and the answer floor that keeps known and unknown addresses alike in time.

use std::time::{Duration, Instant};

use std::sync::Arc;

use super::message::{
    Email, Language, account_exists_email, confirmation_email, password_reset_email, social_connected_email,
};
use super::transport::{MailError, Mailer};
use crate::config::EmailSettings;
use crate::http::ApiError;
use crate::http::input::{Fields, body_object};
use crate::store::{EmailStore, MailPurpose, User};
use crate::tokens::links::EmailKeys;

/// What the sending rules need of a function (its application implements it): its mail
/// settings, its mailer, its store, and the mailed links' keys.
pub trait Mailroom {
    type Store: EmailStore;
    fn mail_settings(&self) -> &EmailSettings;
    fn mailer(&self) -> &dyn Mailer;
    fn mail_store(&self) -> &Self::Store;
    /// The links' MAC keys (only a function that holds the signing keys has them).
    fn link_keys(&self) -> Result<Arc<EmailKeys>, ApiError>;
}

/// Waits until `floor_ms` have passed since `started`: reset and resend answer no sooner, mail
/// sent or not, so an answer's time does not tell a known address from an unknown one (a send
/// slower than the floor still shows; docs/performance.md measures both).
pub async fn answer_no_sooner(started: Instant, floor_ms: u64) {
    let floor = Duration::from_millis(floor_ms);
    if let Some(left) = floor.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
}

/// The address a mail route (reset, resend) is asked about: the body's `email`, refused as the
/// reference refuses it (missing, blank, not an address).
pub fn requested_email(request: &lambda_http::Request) -> Result<String, ApiError> {
    let body = body_object(request)?;
    let mut fields = Fields::new(&body);
    let email = fields.email("email", true, false);
    fields.errors.into_result()?;
    email.ok_or(ApiError::Internal)
}

/// Sends `user` the link that confirms their address, if the address is under its hourly limit
/// of confirmation mails. `Ok(false)` when nothing was sent (the limit, an address no mail can be
/// written to, or the mail service failing: see [`deliver`]); `Err` (503) when the store failed.
pub async fn send_confirmation(
    app: &impl Mailroom,
    user: &User,
    language: Language,
    now: i64,
) -> Result<bool, ApiError> {
    let settings = app.mail_settings();
    let allowed = app
        .mail_store()
        .take_mail_quota(
            &user.email,
            MailPurpose::EmailConfirmation,
            settings.confirm_mails_per_hour,
            now,
        )
        .await?;
    if !allowed {
        tracing::info!(user_id = user.id, "confirmation mail withheld: hourly limit reached");
        return Ok(false);
    }
    mail_confirmation(app, user, language, now).await
}

/// Mails `user` the link that confirms their address, the hourly limit already counted.
pub async fn mail_confirmation(
    app: &impl Mailroom,
    user: &User,
    language: Language,
    now: i64,
) -> Result<bool, ApiError> {
    let key = app.link_keys()?.confirmation_key(user.id, &user.email, now);
    let email = confirmation_email(app.mail_settings(), &user.email, &key, language);
    Ok(deliver(app, user, &email, "confirmation mail sent").await)
}

/// Sends `user` a password reset link, if the address is under its hourly limit of reset mails
/// (a reset asked for by staff counts against the same limit as the user's own requests).
/// `Ok(None)` when the limit held it back; `Ok(Some(sent))` otherwise (see [`deliver`]).
pub async fn send_password_reset(
    app: &impl Mailroom,
    user: &User,
    language: Language,
    now: i64,
) -> Result<Option<bool>, ApiError> {
    let limit = app.mail_settings().reset_mails_per_hour;
    let allowed = app
        .mail_store()
        .take_mail_quota(&user.email, MailPurpose::PasswordReset, limit, now)
        .await?;
    if !allowed {
        tracing::info!(user_id = user.id, "reset mail withheld: hourly limit reached");
        return Ok(None);
    }
    mail_password_reset(app, user, language, now).await.map(Some)
}

/// Mails `user` a password reset link, the hourly limit already counted: whether it was sent.
pub async fn mail_password_reset(
    app: &impl Mailroom,
    user: &User,
    language: Language,
    now: i64,
) -> Result<bool, ApiError> {
    let token = app.link_keys()?.reset_token(user, now);
    let uid = crate::tokens::links::encode_uid(user.id);
    let message = password_reset_email(app.mail_settings(), &user.email, &uid, &token, language);
    Ok(deliver(app, user, &message, "reset mail sent").await)
}

/// Tells the owner of `email` that someone tried to join with it (allauth's "account already
/// exists"), within the address's hourly limit of confirmation mails. Whether it was sent.
pub async fn send_account_exists(
    app: &impl Mailroom,
    email: &str,
    language: Language,
    now: i64,
) -> Result<bool, ApiError> {
    let settings = app.mail_settings();
    let allowed = app
        .mail_store()
        .take_mail_quota(
            email,
            MailPurpose::EmailConfirmation,
            settings.confirm_mails_per_hour,
            now,
        )
        .await?;
    if !allowed {
        tracing::info!("account-exists mail withheld: hourly limit reached");
        return Ok(false);
    }
    match app.mailer().send(&account_exists_email(email, language)).await {
        Ok(()) => {
            tracing::info!("account-exists mail sent");
            Ok(true)
        }
        Err(MailError::Undeliverable) => Ok(false),
        Err(error) => {
            tracing::error!(alert = crate::logging::MAIL_SEND_FAILED, %error, "mail not sent");
            Ok(false)
        }
    }
}

/// Tells `user` that a provider account was linked to them by its verified address (see
/// [`crate::mail::message::social_connected_email`]). Whether it was sent.
pub async fn send_social_connected(app: &impl Mailroom, user: &User, provider: &str, language: Language) -> bool {
    let message = social_connected_email(&user.email, provider, language);
    deliver(app, user, &message, "social-connected mail sent").await
}

/// Sends one message to `user`: whether it was sent. A mail service that refuses (SES in its
/// sandbox, an unverified sender, a paused account, a quota) changes nothing in the answer: only
/// a known address ever reaches it, so a 503 there would tell registered addresses from others.
/// It is logged instead, as an alert line the operators' alarm counts
/// ([`crate::logging::MAIL_SEND_FAILED`]), with SES's error code and never the address.
pub async fn deliver(app: &impl Mailroom, user: &User, email: &Email, done: &str) -> bool {
    match app.mailer().send(email).await {
        Ok(()) => {
            tracing::info!(user_id = user.id, "{done}");
            true
        }
        Err(MailError::Undeliverable) => {
            tracing::warn!(user_id = user.id, "no mail can be written to this user's address");
            false
        }
        Err(error) => {
            tracing::error!(
                alert = crate::logging::MAIL_SEND_FAILED,
                %error,
                user_id = user.id,
                "mail not sent"
            );
            false
        }
    }
}

/// The purposes' limits, for the routes that read them.
pub fn limit(app_settings: &EmailSettings, purpose: MailPurpose) -> u32 {
    match purpose {
        MailPurpose::PasswordReset => app_settings.reset_mails_per_hour,
        MailPurpose::EmailConfirmation => app_settings.confirm_mails_per_hour,
    }
}
