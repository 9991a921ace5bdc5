//! The seam that sends mail: [`Mailer`], with Amazon SES v2 on AWS and a file per message
//! locally (`EMAIL_BACKEND=ses|file`).
//!
//! Both backends send the same bytes: one RFC 5322 message (UTF-8, `multipart/alternative` with
//! a text and an HTML part) built here with lettre. SES gets it as raw content, so what the
//! local outbox shows is exactly what a user's mailbox would receive.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use lettre::message::{Mailbox, MultiPart};

use super::message::Email;
use crate::config::{EmailBackend, EmailSettings};
use crate::http::ApiError;

/// Why a message was not sent. The messages are for logs and never carry an address.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sending service refused or could not be reached (SES: an unverified sender, a
    /// paused account, throttling, a timeout): the request answers 503.
    #[error("mail service unavailable ({0})")]
    Unavailable(String),
    /// The message could not be built for this recipient (an address lettre cannot write):
    /// nothing can be sent to it, ever.
    #[error("recipient cannot be mailed")]
    Undeliverable,
}

impl From<MailError> for ApiError {
    /// Logged here, once, by kind (never with the address, the link or the provider's text).
    fn from(error: MailError) -> Self {
        tracing::warn!(%error, "mail not sent");
        ApiError::Unavailable
    }
}

/// The whole message as RFC 5322 bytes, from `from`.
pub fn rfc5322(email: &Email, from: &str) -> Result<Vec<u8>, MailError> {
    let from: Mailbox = from
        .parse()
        .map_err(|_| MailError::Unavailable("sender address unusable".into()))?;
    let to: Mailbox = email.to.parse().map_err(|_| MailError::Undeliverable)?;
    let message = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|_| MailError::Undeliverable)?;
    Ok(message.formatted())
}

/// What a send returns.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// The seam: one message, sent or not.
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, email: &'a Email) -> Sending<'a>;
}

/// No mailer configured (the functions that send none): every send is refused.
pub struct NoMailer;

impl Mailer for NoMailer {
    fn send<'a>(&'a self, _email: &'a Email) -> Sending<'a> {
        Box::pin(async { Err(MailError::Unavailable("this function sends no mail".into())) })
    }
}

/// Amazon SES v2: `SendEmail` with raw content, from `EMAIL_FROM`, under the identity
/// `SES_IDENTITY_ARN` when given (`FromEmailAddressIdentityArn`, for a sending authorisation).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    identity_arn: Option<String>,
    /// `SES_CONFIGURATION_SET`: where SES reports bounces and complaints (the template's set).
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>, identity_arn: Option<String>) -> Self {
        SesMailer {
            client,
            from: from.into(),
            identity_arn,
            configuration_set: None,
        }
    }

    /// The same mailer, sending under the configuration set `name`.
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name;
        self
    }
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, email: &'a Email) -> Sending<'a> {
        Box::pin(async move {
            let data = rfc5322(email, &self.from)?;
            let raw = RawMessage::builder()
                .data(Blob::new(data))
                .build()
                .map_err(|_| MailError::Unavailable("raw message".into()))?;
            let started = std::time::Instant::now();
            let sent = self
                .client
                .send_email()
                .from_email_address(&self.from)
                .set_from_email_address_identity_arn(self.identity_arn.clone())
                .set_configuration_set_name(self.configuration_set.clone())
                .destination(Destination::builder().to_addresses(&email.to).build())
                .content(EmailContent::builder().raw(raw).build())
                .send()
                .await;
            match sent {
                Ok(_) => {
                    // How long SES took: EMAIL_ANSWER_FLOOR_MS must stay above it (the book's
                    // "Password reset and address verification", docs/src/reference/mail.md).
                    let ms = started.elapsed().as_millis() as u64;
                    tracing::info!(ms, "mail sent (SES)");
                    Ok(())
                }
                // Only the error's code: SES's messages name addresses ("...failed the check:
                // sender@example.com"). A send IAM refused is a broken deploy: alerted too.
                Err(error) => Err(MailError::Unavailable(format!(
                    "SES {}{}",
                    if crate::logging::alert_if_access_denied("ses", error.code()) {
                        "(IAM) "
                    } else {
                        ""
                    },
                    error.code().unwrap_or(match &error {
                        aws_sdk_sesv2::error::SdkError::TimeoutError(_) => "timeout",
                        aws_sdk_sesv2::error::SdkError::DispatchFailure(_) => "unreachable",
                        _ => "error",
                    })
                ))),
            }
        })
    }
}

/// Django's file-based backend: each message written whole, as one `.eml` file under the outbox
/// (written beside it and renamed in, so a reader never sees half of one). Local only: it logs
/// the path and the link of each message for `make dev`, which no production path does.
pub struct FileMailer {
    outbox: PathBuf,
    from: String,
}

impl FileMailer {
    pub fn new(outbox: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        FileMailer {
            outbox: outbox.into(),
            from: from.into(),
        }
    }
}

impl Mailer for FileMailer {
    fn send<'a>(&'a self, email: &'a Email) -> Sending<'a> {
        Box::pin(async move {
            let data = rfc5322(email, &self.from)?;
            let unavailable = |error: std::io::Error| MailError::Unavailable(format!("outbox: {}", error.kind()));
            tokio::fs::create_dir_all(&self.outbox).await.map_err(unavailable)?;
            let name = format!(
                "{}-{}.eml",
                time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
                crate::ids::random_id()
            );
            let path = self.outbox.join(&name);
            let partial = self.outbox.join(format!(".{name}.part"));
            tokio::fs::write(&partial, &data).await.map_err(unavailable)?;
            tokio::fs::rename(&partial, &path).await.map_err(unavailable)?;
            tracing::info!(path = %path.display(), link = %email.link, "mail written to the local outbox");
            Ok(())
        })
    }
}

/// The mailer `settings` choose; `sdk` is the AWS configuration for SES.
pub fn mailer_from(settings: &EmailSettings, sdk: &aws_config::SdkConfig) -> Box<dyn Mailer> {
    match &settings.backend {
        EmailBackend::Ses {
            identity_arn,
            configuration_set,
        } => Box::new(
            SesMailer::new(
                aws_sdk_sesv2::Client::new(sdk),
                settings.from.clone(),
                identity_arn.clone(),
            )
            .with_configuration_set(configuration_set.clone()),
        ),
        EmailBackend::File { outbox } => Box::new(FileMailer::new(outbox.clone(), settings.from.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::message::{Language, confirmation_email, password_reset_email};

    fn settings() -> EmailSettings {
        crate::config::Config::from_lookup(|name| {
            (name == "JWT_SIGNING_KEY").then(|| "0123456789abcdef0123456789abcdef".to_owned())
        })
        .expect("the defaults are valid")
        .email
    }

    #[test]
    fn a_message_is_rfc5322_multipart_alternative_in_utf8_with_the_link_in_both_parts() {
        let email = password_reset_email(&settings(), "user@example.com", "MQ", "abc-123", Language::Korean);
        assert_eq!(email.link, "http://localhost:9001/#/reset/MQ/abc-123");
        let bytes = rfc5322(&email, "webmaster@localhost").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        for part in [
            "From: webmaster@localhost\r\n",
            "To: user@example.com\r\n",
            "Subject: =?utf-8?",
            "MIME-Version: 1.0\r\n",
            "Date: ",
            "Content-Type: multipart/alternative;",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
        ] {
            assert!(text.contains(part), "missing {part:?} in\n{text}");
        }
        assert!(email.text.contains("http://localhost:9001/#/reset/MQ/abc-123"));
        assert!(email.html.contains("href=\"http://localhost:9001/#/reset/MQ/abc-123\""));
        assert!(email.text.contains("비밀번호"));

        assert!(email.html.contains("lang=\"ko\""));
        assert!(!format!("{email:?}").contains("abc-123") && !format!("{email:?}").contains("user@"));
    }

    #[test]
    fn links_are_escaped_in_html_and_an_unwritable_recipient_is_undeliverable() {
        let mut settings = settings();
        settings.email_confirm_url = "https://app.example.com/confirm?key={key}&x=\"<y>".into();
        let email = confirmation_email(&settings, "user@example.com", "NDI:abc:def", Language::English);
        assert!(
            email.html.contains("key=NDI:abc:def&amp;x=&quot;&lt;y&gt;"),
            "{}",
            email.html
        );
        assert!(email.text.contains("within 72 hours"));
        let mut bad = email.clone();
        bad.to = "not an address".into();
        assert!(matches!(
            rfc5322(&bad, "webmaster@localhost"),
            Err(MailError::Undeliverable)
        ));
    }
}
