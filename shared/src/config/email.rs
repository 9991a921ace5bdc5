//! What the mail-sending routes read: where mail goes, from whom, which links it carries, how
//! long they hold, how many an address may get, and whether addresses are verified at all.

use super::{ConfigError, parse_duration, parse_or};

// ANCHOR: variables
/// allauth's `ACCOUNT_EMAIL_VERIFICATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// The tutorial's: no confirmation mail, nothing asked.
    None,
    /// Join sends a confirmation mail; nothing waits for it.
    Optional,
    /// Join sends it and answers without tokens; login refuses an unverified address.
    Mandatory,
}

/// Where mail goes: `EMAIL_BACKEND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailBackend {
    /// Amazon SES v2 (`SendEmail`, raw content), from `EMAIL_FROM` under the identity
    /// `SES_IDENTITY_ARN` when set, in the configuration set `SES_CONFIGURATION_SET` when set
    /// (bounce and complaint events).
    Ses {
        identity_arn: Option<String>,
        configuration_set: Option<String>,
    },
    /// One file per message under `EMAIL_OUTBOX_DIR`, like Django's file-based backend: local only.
    File { outbox: std::path::PathBuf },
}

/// What the mail-sending routes read (`EMAIL_*`, `PASSWORD_RESET_*`, `SES_IDENTITY_ARN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// `EMAIL_BACKEND`: `file` (default) or `ses`.
    pub backend: EmailBackend,
    /// `EMAIL_FROM` (default `webmaster@localhost`, Django's): the sender address.
    pub from: String,
    /// `EMAIL_VERIFICATION`: `none` (default), `optional` or `mandatory`.
    pub verification: EmailVerification,
    /// `PASSWORD_RESET_URL`: the front end's page for a reset link, with `{uid}` and `{token}`.
    pub password_reset_url: String,
    /// `EMAIL_CONFIRM_URL`: the front end's page for a confirmation link, with `{key}`.
    pub email_confirm_url: String,
    /// `PASSWORD_RESET_TIMEOUT` (default 259200, Django's three days): a reset link's life.
    pub password_reset_timeout: i64,
    /// `EMAIL_CONFIRM_TIMEOUT` (default 259200, allauth's three days): a confirmation link's life.
    pub email_confirm_timeout: i64,
    /// `PASSWORD_RESET_MAX_PER_HOUR` (default 3): reset mails to one address in an hour.
    pub reset_mails_per_hour: u32,
    /// `EMAIL_CONFIRM_MAX_PER_HOUR` (default 3): confirmation mails (join and resend) likewise.
    pub confirm_mails_per_hour: u32,
    /// `EMAIL_ANSWER_FLOOR_MS` (default 400): reset and resend answer no sooner than this after
    /// they began, mail sent or not, so the time of an answer says nothing about the address.
    pub answer_floor_ms: u64,
}
// ANCHOR_END: variables

/// Where a local stack's front end (web/, `make dev`) shows the two links.
pub const DEFAULT_PASSWORD_RESET_URL: &str = "http://localhost:9001/#/reset/{uid}/{token}";
pub const DEFAULT_EMAIL_CONFIRM_URL: &str = "http://localhost:9001/#/verify/{key}";

pub(super) fn email_settings(lookup: &impl Fn(&str) -> Option<String>) -> Result<EmailSettings, ConfigError> {
    let text = |name: &str| {
        lookup(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let backend = match text("EMAIL_BACKEND").as_deref().unwrap_or("file") {
        "ses" => EmailBackend::Ses {
            identity_arn: text("SES_IDENTITY_ARN"),
            configuration_set: text("SES_CONFIGURATION_SET"),
        },
        "file" => EmailBackend::File {
            outbox: text("EMAIL_OUTBOX_DIR")
                .unwrap_or_else(|| ".local/outbox".to_owned())
                .into(),
        },
        _ => {
            return Err(ConfigError::Invalid {
                name: "EMAIL_BACKEND",
                expected: "ses or file",
            });
        }
    };
    let from = text("EMAIL_FROM").unwrap_or_else(|| "webmaster@localhost".to_owned());
    if matches!(backend, EmailBackend::Ses { .. }) && lookup("EMAIL_FROM").is_none() {
        return Err(ConfigError::Missing("EMAIL_FROM"));
    }
    if from.parse::<lettre::Address>().is_err() {
        return Err(ConfigError::Invalid {
            name: "EMAIL_FROM",
            expected: "an e-mail address",
        });
    }
    let verification = match text("EMAIL_VERIFICATION").as_deref().unwrap_or("none") {
        "none" => EmailVerification::None,
        "optional" => EmailVerification::Optional,
        "mandatory" => EmailVerification::Mandatory,
        _ => {
            return Err(ConfigError::Invalid {
                name: "EMAIL_VERIFICATION",
                expected: "none, optional or mandatory",
            });
        }
    };
    let url = |name: &'static str, default: &str, placeholders: &[&str], expected: &'static str| {
        let url = text(name).unwrap_or_else(|| default.to_owned());
        let absolute = url.starts_with("https://") || url.starts_with("http://");
        match absolute && placeholders.iter().all(|placeholder| url.contains(placeholder)) {
            true => Ok(url),
            false => Err(ConfigError::Invalid { name, expected }),
        }
    };
    let per_hour = |name: &'static str| {
        let count: u32 = parse_or(lookup, name, 3, "a number of mails from 1 to 100")?;
        match (1..=100).contains(&count) {
            true => Ok(count),
            false => Err(ConfigError::Invalid {
                name,
                expected: "a number of mails from 1 to 100",
            }),
        }
    };
    let answer_floor_ms = parse_or(lookup, "EMAIL_ANSWER_FLOOR_MS", 400, "milliseconds, at most 10000")?;
    if answer_floor_ms > 10_000 {
        return Err(ConfigError::Invalid {
            name: "EMAIL_ANSWER_FLOOR_MS",
            expected: "milliseconds, at most 10000",
        });
    }
    Ok(EmailSettings {
        backend,
        from,
        verification,
        password_reset_url: url(
            "PASSWORD_RESET_URL",
            DEFAULT_PASSWORD_RESET_URL,
            &["{uid}", "{token}"],
            "an http(s) URL with {uid} and {token}",
        )?,
        email_confirm_url: url(
            "EMAIL_CONFIRM_URL",
            DEFAULT_EMAIL_CONFIRM_URL,
            &["{key}"],
            "an http(s) URL with {key}",
        )?,
        password_reset_timeout: parse_duration(lookup, "PASSWORD_RESET_TIMEOUT", 259_200)?,
        email_confirm_timeout: parse_duration(lookup, "EMAIL_CONFIRM_TIMEOUT", 259_200)?,
        reset_mails_per_hour: per_hour("PASSWORD_RESET_MAX_PER_HOUR")?,
        confirm_mails_per_hour: per_hour("EMAIL_CONFIRM_MAX_PER_HOUR")?,
        answer_floor_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn email_settings_default_to_the_tutorial_and_refuse_what_cannot_work() {
        let email = config_from(&[("JWT_SIGNING_KEY", KEY)]).unwrap().email;
        assert_eq!(email.verification, EmailVerification::None);
        assert_eq!(
            email.backend,
            EmailBackend::File {
                outbox: ".local/outbox".into()
            }
        );
        assert_eq!(
            (
                email.password_reset_timeout,
                email.reset_mails_per_hour,
                email.from.as_str()
            ),
            (259_200, 3, "webmaster@localhost")
        );
        let ses = config_from(&[
            ("JWT_SIGNING_KEY", KEY),
            ("EMAIL_BACKEND", "ses"),
            ("EMAIL_FROM", "no-reply@example.com"),
            ("EMAIL_VERIFICATION", "mandatory"),
        ])
        .unwrap()
        .email;
        assert_eq!(
            ses.backend,
            EmailBackend::Ses {
                identity_arn: None,
                configuration_set: None
            }
        );
        assert_eq!(ses.verification, EmailVerification::Mandatory);
        for (name, value) in [
            ("EMAIL_BACKEND", "smtp"),
            ("EMAIL_VERIFICATION", "sometimes"),
            ("EMAIL_FROM", "not an address"),
            ("PASSWORD_RESET_URL", "https://app.example.com/reset/{uid}"),
            ("EMAIL_CONFIRM_URL", "javascript:{key}"),
            ("PASSWORD_RESET_MAX_PER_HOUR", "0"),
            ("PASSWORD_RESET_TIMEOUT", "0"),
            ("EMAIL_ANSWER_FLOOR_MS", "60000"),
        ] {
            let err = config_from(&[("JWT_SIGNING_KEY", KEY), (name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("EMAIL_BACKEND", "ses")]).unwrap_err();
        assert!(err.to_string().contains("EMAIL_FROM"), "SES needs a sender");
    }
}
