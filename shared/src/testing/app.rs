//! The application a handler test runs: the defaults plus the test signing key, over a fresh
//! memory store, and for the routes that mail a mailer that records what it is given.

use crate::app::App;
use crate::config::Config;
use crate::store::MemoryStore;

pub const TEST_SIGNING_KEY: &str = "handler-test-signing-key-0123456789abcdef";

/// The defaults, the test signing key, and `overrides` (environment names; an ES256 test
/// passes its own `JWT_SIGNING_KEY`).
pub fn test_config(overrides: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        let overridden = overrides
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned());
        match name {
            "JWT_SIGNING_KEY" => overridden.or_else(|| Some(TEST_SIGNING_KEY.to_owned())),
            _ => overridden,
        }
    })
    .expect("test configuration is valid")
}

/// An application over a fresh memory store, with the defaults plus `overrides` (env names).
pub fn app_with(overrides: &[(&str, &str)]) -> App<MemoryStore> {
    App::new(test_config(overrides), MemoryStore::new())
}

/// An application over a fresh memory store, with the defaults.
pub fn app() -> App<MemoryStore> {
    app_with(&[])
}

/// A mailer that keeps what it is given (or refuses, as SES refusing an unverified sender).
#[derive(Clone, Default)]
pub struct RecordingMailer {
    sent: std::sync::Arc<std::sync::Mutex<Vec<crate::mail::Email>>>,
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RecordingMailer {
    /// Every message sent so far, in order.
    pub fn sent(&self) -> Vec<crate::mail::Email> {
        self.sent.lock().map(|sent| sent.clone()).unwrap_or_default()
    }

    /// The messages sent to `to`.
    pub fn sent_to(&self, to: &str) -> Vec<crate::mail::Email> {
        self.sent().into_iter().filter(|email| email.to == to).collect()
    }

    /// Makes every following send fail as an unavailable service would (or stop failing).
    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, std::sync::atomic::Ordering::SeqCst);
    }
}

impl crate::mail::Mailer for RecordingMailer {
    fn send<'a>(&'a self, email: &'a crate::mail::Email) -> crate::mail::Sending<'a> {
        Box::pin(async move {
            if self.refusing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(crate::mail::MailError::Unavailable("SES MessageRejected".into()));
            }
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(email.clone());
            }
            Ok(())
        })
    }
}

/// An application over a fresh memory store sending into a [`RecordingMailer`] (returned too),
/// with the defaults, no answer floor, plus `overrides` (env names).
pub fn mailing_app_with(overrides: &[(&str, &str)]) -> (App<MemoryStore>, RecordingMailer) {
    let mut all = overrides.to_vec();
    all.push(("EMAIL_ANSWER_FLOOR_MS", "0"));
    let mailer = RecordingMailer::default();
    let app = App::new(test_config(&all), MemoryStore::new()).with_mailer(Box::new(mailer.clone()));
    (app, mailer)
}

/// The uid and token of the last reset link mailed to `to` (`.../reset/{uid}/{token}`).
pub fn link_parts(mailer: &RecordingMailer, to: &str) -> (String, String) {
    let email = mailer.sent_to(to).pop().expect("a mail");
    let mut parts = email.link.rsplit('/');
    let token = parts.next().expect("a token").to_owned();
    let uid = parts.next().expect("a uid").to_owned();
    (uid, token)
}
