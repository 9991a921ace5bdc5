//! Configuration, read from the environment once per cold start.

mod email;
mod login_throttle;

use std::env;
use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use secrecy::SecretString;

use email::email_settings;
pub use email::{
    DEFAULT_EMAIL_CONFIRM_URL, DEFAULT_PASSWORD_RESET_URL, EmailBackend, EmailSettings, EmailVerification,
};
pub use login_throttle::LoginThrottle;

use crate::http::cors::Cors;
use crate::tokens::keys::{JwtAlgorithm, KeyMaterial, KeyRejected, KeyRing};
use crate::tokens::source::KeySourceError;
use crate::tokens::{TokenKeys, TokenSettings};

/// The shortest signing key we accept (contract §2): 256 bits for HS256.
pub const MIN_SIGNING_KEY_BYTES: usize = crate::tokens::keys::MIN_HS256_KEY_BYTES;

/// The longest time between two reads of the signing keys (`JWT_KEY_REFRESH_SECONDS`): a day.
pub const MAX_KEY_REFRESH_SECONDS: i64 = 86400;

/// The longest token lifetime (and throttle duration) we accept: ten years. Far beyond any
/// sane setting, and far enough from `i64` and the calendar's ends that no sum of a time and
/// a lifetime can overflow (a login must never panic on its configuration).
pub const MAX_DURATION_SECONDS: i64 = 10 * 366 * 24 * 3600;

/// The longest retention of security events: ten years.
pub const MAX_EVENT_RETENTION_DAYS: i64 = 3650;
const RETENTION_EXPECTED: &str = "a number of days between 1 and 3650";

/// The most clock skew we tolerate on `exp`: an hour is already generous.
pub const MAX_LEEWAY_SECONDS: u64 = 3600;

// ANCHOR: variables
/// Everything the functions read from their environment. Field docs name the variable.
#[derive(Clone)]
pub struct Config {
    /// `TABLE_NAME` (default `accounts`): the DynamoDB table holding users and sessions.
    pub table_name: String,
    /// `JWT_ALGORITHM` (default HS256; or ES256): what every token is signed with.
    pub jwt_algorithm: JwtAlgorithm,
    /// `JWT_SIGNING_KEY` (required) and `JWT_PREVIOUS_SIGNING_KEY`: the HS256 secret (at least
    /// 32 bytes) or the ES256 private key (PKCS#8 PEM). On AWS they are read from the Secrets
    /// Manager secret named by `JWT_SIGNING_KEY_SECRET_ARN` (`AWSCURRENT`, `AWSPREVIOUS`),
    /// locally from the files `JWT_SIGNING_KEY_FILE` and `JWT_PREVIOUS_SIGNING_KEY_FILE` name.
    /// `None` in a function that only verifies ES256 tokens: it reads `JWT_PUBLIC_KEYS` instead,
    /// the JWK Set of the public keys (from the secret `JWT_PUBLIC_KEYS_SECRET_ARN` on AWS, the
    /// file `JWT_PUBLIC_KEYS_FILE` locally).
    pub signing_keys: Option<KeyMaterial>,
    /// The keys built from `signing_keys` or the public keys (checked here, so a bad key stops
    /// the start).
    pub key_ring: Arc<KeyRing>,
    /// `JWT_ISSUER` (required with ES256): the `iss` of every token and of the discovery
    /// document, the API's public base URL followed by `/account`.
    pub jwt_issuer: Option<String>,
    /// `JWT_AUDIENCE` (optional): the `aud` of every access token, required of every access
    /// token presented; refresh tokens carry none, and the kinds then differ in `typ`.
    pub jwt_audience: Option<String>,
    /// `JWT_KEY_REFRESH_SECONDS` (default 300; 0: every request): the longest time a warm
    /// function goes without reading its signing keys again, so a rotation reaches it.
    pub key_refresh_interval: i64,
    /// `ACCESS_TOKEN_LIFETIME_SECONDS` (default 3600).
    pub access_token_lifetime: i64,
    /// `REFRESH_TOKEN_LIFETIME_SECONDS` (default 86400).
    pub refresh_token_lifetime: i64,
    /// `MAX_SESSION_SECONDS` (default 2592000, 30 days; ASVS 5.0 §7.3): the longest a session
    /// lives from its login, however often it is refreshed. No token of it outlives that.
    pub max_session_seconds: i64,
    /// `JWT_LEEWAY_SECONDS` (default 0): clock skew tolerated on `exp`.
    pub jwt_leeway: u64,
    /// `ROTATE_REFRESH_TOKENS` (default true): each refresh spends the presented token.
    pub rotate_refresh_tokens: bool,
    /// `REFRESH_REUSE_INTERVAL_SECONDS` (default 30; 0: strict): how long after a rotation the
    /// family's previous refresh token still answers with the family's current state.
    pub refresh_reuse_interval: i64,
    /// `PASSWORD_CHANGE_REQUIRES_OLD_PASSWORD` (default true; false is the tutorial's weaker
    /// behaviour, where a bearer token alone sets a new password).
    pub old_password_required: bool,
    /// `COOKIE_SECURE` (default true): the `Secure` attribute on the token cookies.
    pub cookie_secure: bool,
    /// The brute-force throttle of login (`LOGIN_THROTTLE_*`).
    pub login_throttle: LoginThrottle,
    /// `ALLOWED_ORIGINS` (default none): browser origins allowed to call with credentials.
    pub cors: Cors,
    /// Password reset and address verification: the mail they send (`crate::mail`).
    pub email: EmailSettings,
    /// `EVENT_RETENTION_DAYS` (default 90, at most 3650): how long security events are kept
    /// (their TTL) and listed.
    pub event_retention_days: i64,
    /// `ADMIN_API` (default true): whether the admin routes answer. Off, they answer 404 to
    /// everything and (in the template) hold no DynamoDB permission: admin through IAM alone
    /// (`account-admin`).
    pub admin_api: bool,
}

// ANCHOR_END: variables

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("signing_keys", &self.signing_keys)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("key_refresh_interval", &self.key_refresh_interval)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("max_session_seconds", &self.max_session_seconds)
            .field("jwt_leeway", &self.jwt_leeway)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("refresh_reuse_interval", &self.refresh_reuse_interval)
            .field("old_password_required", &self.old_password_required)
            .field("cookie_secure", &self.cookie_secure)
            .field("login_throttle", &self.login_throttle)
            .field("cors", &self.cors)
            .field("email", &self.email)
            .field("event_retention_days", &self.event_retention_days)
            .field("admin_api", &self.admin_api)
            .finish()
    }
}

/// Why the service refuses to start. Never carries a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} must be {expected}")]
    Invalid { name: &'static str, expected: &'static str },
    #[error("the signing key secret could not be read: {0}")]
    Secret(String),
    #[error("{0}")]
    Key(#[from] KeyRejected),
    #[error(transparent)]
    Keys(#[from] KeySourceError),
}

impl Config {
    /// The token rules of this configuration, and the keys read at cold start.
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            ring: Arc::clone(&self.key_ring),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            leeway: self.jwt_leeway,
            access_lifetime: self.access_token_lifetime,
            refresh_lifetime: self.refresh_token_lifetime,
            max_session: self.max_session_seconds,
        }
    }

    /// The tokens' keys and rules, as a function holds them.
    pub fn token_keys(&self) -> TokenKeys {
        TokenKeys::new(self.token_settings())
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let jwt_algorithm = match lookup("JWT_ALGORITHM") {
            None => JwtAlgorithm::Hs256,
            Some(name) => name.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "JWT_ALGORITHM",
                expected: "HS256 or ES256",
            })?,
        };
        let (signing_keys, key_ring) = match (lookup("JWT_SIGNING_KEY"), lookup("JWT_PUBLIC_KEYS")) {
            (Some(current), _) => {
                let material = KeyMaterial {
                    current: SecretString::from(current),
                    previous: lookup("JWT_PREVIOUS_SIGNING_KEY")
                        .filter(|key| !key.trim().is_empty())
                        .map(SecretString::from),
                };
                let ring = KeyRing::build(jwt_algorithm, &material).map_err(|rejected| match rejected.which {
                    "current" => ConfigError::Invalid {
                        name: "JWT_SIGNING_KEY",
                        expected: rejected.expected,
                    },
                    _ => ConfigError::Invalid {
                        name: "JWT_PREVIOUS_SIGNING_KEY",
                        expected: rejected.expected,
                    },
                })?;
                (Some(material), ring)
            }
            // A verify-only function of an ES256 deployment: the public keys, nothing secret.
            (None, Some(jwk_set)) if jwt_algorithm == JwtAlgorithm::Es256 => {
                let ring = KeyRing::verify_only(&jwk_set).map_err(|rejected| ConfigError::Invalid {
                    name: "JWT_PUBLIC_KEYS",
                    expected: rejected.expected,
                })?;
                (None, ring)
            }
            _ => return Err(ConfigError::Missing("JWT_SIGNING_KEY")),
        };
        let key_ring = Arc::new(key_ring);
        let jwt_issuer = lookup("JWT_ISSUER")
            .map(|issuer| issuer.trim().to_owned())
            .filter(|issuer| !issuer.is_empty());
        if let Some(issuer) = &jwt_issuer
            && !is_issuer(issuer)
        {
            return Err(ConfigError::Invalid {
                name: "JWT_ISSUER",
                expected: "an http(s) URL without query, fragment or trailing slash",
            });
        }
        if jwt_algorithm == JwtAlgorithm::Es256 && jwt_issuer.is_none() {
            return Err(ConfigError::Missing("JWT_ISSUER"));
        }
        let key_refresh_interval = parse_or(
            &lookup,
            "JWT_KEY_REFRESH_SECONDS",
            300,
            "a number of seconds up to a day",
        )?;
        if !(0..=MAX_KEY_REFRESH_SECONDS).contains(&key_refresh_interval) {
            return Err(ConfigError::Invalid {
                name: "JWT_KEY_REFRESH_SECONDS",
                expected: "a number of seconds up to a day",
            });
        }
        let config = Config {
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| "accounts".to_owned()),
            jwt_algorithm,
            signing_keys,
            key_ring,
            jwt_issuer,
            jwt_audience: lookup("JWT_AUDIENCE")
                .map(|audience| audience.trim().to_owned())
                .filter(|audience| !audience.is_empty()),
            key_refresh_interval,
            access_token_lifetime: parse_duration(&lookup, "ACCESS_TOKEN_LIFETIME_SECONDS", 3600)?,
            refresh_token_lifetime: parse_duration(&lookup, "REFRESH_TOKEN_LIFETIME_SECONDS", 86400)?,
            max_session_seconds: parse_duration(&lookup, "MAX_SESSION_SECONDS", 2_592_000)?,
            jwt_leeway: parse_or(&lookup, "JWT_LEEWAY_SECONDS", 0, "a number of seconds")?,
            rotate_refresh_tokens: parse_bool_or(&lookup, "ROTATE_REFRESH_TOKENS", true)?,
            refresh_reuse_interval: parse_or(
                &lookup,
                "REFRESH_REUSE_INTERVAL_SECONDS",
                30,
                "a number of seconds (0: strict reuse detection)",
            )?,
            old_password_required: parse_bool_or(&lookup, "PASSWORD_CHANGE_REQUIRES_OLD_PASSWORD", true)?,
            cookie_secure: parse_bool_or(&lookup, "COOKIE_SECURE", true)?,
            login_throttle: LoginThrottle {
                failures: parse_or(&lookup, "LOGIN_THROTTLE_FAILURES", 5, "a number of failures (0: off)")?,
                window: parse_duration(&lookup, "LOGIN_THROTTLE_WINDOW_SECONDS", 86400)?,
                lockout: parse_duration(&lookup, "LOGIN_THROTTLE_LOCKOUT_SECONDS", 60)?,
                max_lockout: parse_duration(&lookup, "LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS", 3600)?,
            },
            cors: Cors::parse(&lookup("ALLOWED_ORIGINS").unwrap_or_default()).map_err(|_| ConfigError::Invalid {
                name: "ALLOWED_ORIGINS",
                expected: "comma-separated origins such as https://app.example.com (no *, no path)",
            })?,
            email: email_settings(&lookup)?,
            event_retention_days: parse_or(&lookup, "EVENT_RETENTION_DAYS", 90, RETENTION_EXPECTED)?,
            admin_api: parse_bool_or(&lookup, "ADMIN_API", true)?,
        };
        if !(1..=MAX_EVENT_RETENTION_DAYS).contains(&config.event_retention_days) {
            return Err(ConfigError::Invalid {
                name: "EVENT_RETENTION_DAYS",
                expected: RETENTION_EXPECTED,
            });
        }
        if config.login_throttle.max_lockout < config.login_throttle.lockout {
            return Err(ConfigError::Invalid {
                name: "LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS",
                expected: "at least LOGIN_THROTTLE_LOCKOUT_SECONDS",
            });
        }
        if !(0..config.refresh_token_lifetime).contains(&config.refresh_reuse_interval) {
            return Err(ConfigError::Invalid {
                name: "REFRESH_REUSE_INTERVAL_SECONDS",
                expected: "0 or more, and shorter than the refresh token lifetime",
            });
        }
        if config.jwt_leeway > MAX_LEEWAY_SECONDS {
            return Err(ConfigError::Invalid {
                name: "JWT_LEEWAY_SECONDS",
                expected: "at most 3600",
            });
        }
        Ok(config)
    }
}

/// An issuer API Gateway can trust: an absolute http(s) URL with no query or fragment; no
/// trailing slash, since the discovery document's path is appended to it.
fn is_issuer(issuer: &str) -> bool {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('/') && !issuer.ends_with('/') && !issuer.contains(['?', '#', ' '])
    })
}

pub(super) fn parse_or<T: FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid { name, expected }),
    }
}

/// A number of seconds, at least one and at most `MAX_DURATION_SECONDS`.
pub(super) fn parse_duration(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    let expected = "a number of seconds between 1 and 10 years";
    let seconds = parse_or(lookup, name, default, expected)?;
    match (1..=MAX_DURATION_SECONDS).contains(&seconds) {
        true => Ok(seconds),
        false => Err(ConfigError::Invalid { name, expected }),
    }
}

pub(super) fn parse_bool_or(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match lookup(name).as_deref().map(|raw| raw.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(raw) => match raw.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::Invalid {
                name,
                expected: "true or false",
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn no_setting_can_make_a_time_overflow() {
        let huge = i64::MAX.to_string();
        for name in [
            "ACCESS_TOKEN_LIFETIME_SECONDS",
            "REFRESH_TOKEN_LIFETIME_SECONDS",
            "MAX_SESSION_SECONDS",
            "LOGIN_THROTTLE_WINDOW_SECONDS",
            "LOGIN_THROTTLE_LOCKOUT_SECONDS",
            "LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS",
        ] {
            let err = config_from(&[("JWT_SIGNING_KEY", KEY), (name, &huge)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("JWT_LEEWAY_SECONDS", &u64::MAX.to_string())]).unwrap_err();
        assert!(err.to_string().contains("JWT_LEEWAY_SECONDS"));
        // The longest accepted lifetimes still make a cookie and a token.
        let longest = MAX_DURATION_SECONDS.to_string();
        let config = config_from(&[
            ("JWT_SIGNING_KEY", KEY),
            ("ACCESS_TOKEN_LIFETIME_SECONDS", &longest),
            ("REFRESH_TOKEN_LIFETIME_SECONDS", &longest),
        ])
        .unwrap();
        let tokens = config.token_keys();
        let issued = tokens
            .issue(
                crate::tokens::TokenKind::Refresh,
                1,
                &crate::ids::random_id(),
                crate::ids::random_id(),
                crate::clock::now_unix(),
            )
            .unwrap();
        assert!(tokens.verify(&issued.token, crate::tokens::TokenKind::Refresh).is_ok());
        let cookie = crate::http::cookies::token_cookie("c", &issued.token, MAX_DURATION_SECONDS, true);
        assert!(cookie.to_str().unwrap().contains("Max-Age="));
    }

    #[test]
    fn the_reuse_interval_defaults_to_30_seconds_and_stays_below_the_refresh_lifetime() {
        assert_eq!(
            config_from(&[("JWT_SIGNING_KEY", KEY)]).unwrap().refresh_reuse_interval,
            30
        );
        let strict = config_from(&[("JWT_SIGNING_KEY", KEY), ("REFRESH_REUSE_INTERVAL_SECONDS", "0")]).unwrap();
        assert_eq!(strict.refresh_reuse_interval, 0);
        for bad in ["-1", "86400", "soon"] {
            let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("REFRESH_REUSE_INTERVAL_SECONDS", bad)]).unwrap_err();
            assert!(err.to_string().contains("REFRESH_REUSE_INTERVAL_SECONDS"), "{bad}");
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = config_from(&[("JWT_SIGNING_KEY", KEY)]).unwrap();
        assert_eq!(config.table_name, "accounts");
        assert_eq!(config.access_token_lifetime, 3600);
        assert_eq!(config.refresh_token_lifetime, 86400);
        assert_eq!(config.max_session_seconds, 30 * 86400, "ASVS 5.0 §7.3's 30 days");
        assert_eq!(config.jwt_leeway, 0);
        assert!(config.rotate_refresh_tokens);
        assert!(
            config.old_password_required,
            "ASVS 5.0 §6.2: the current password is asked"
        );
        assert!(config.cookie_secure);
        assert_eq!(config.cors, Cors::default(), "no cross-origin access unless configured");
    }

    #[test]
    fn refuses_to_start_without_a_long_enough_key() {
        assert!(matches!(config_from(&[]), Err(ConfigError::Missing("JWT_SIGNING_KEY"))));
        let short = config_from(&[("JWT_SIGNING_KEY", "too-short")]);
        assert!(matches!(
            short,
            Err(ConfigError::Invalid {
                name: "JWT_SIGNING_KEY",
                ..
            })
        ));
    }

    #[test]
    fn the_algorithm_issuer_and_key_refresh_are_checked_by_name() {
        let pem = crate::tokens::keys::new_es256_pem().unwrap();
        let issuer = "https://abc.execute-api.eu-west-1.amazonaws.com/api/account";
        let es256 = config_from(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SIGNING_KEY", &pem),
            ("JWT_ISSUER", issuer),
        ])
        .unwrap();
        assert_eq!(es256.jwt_algorithm, JwtAlgorithm::Es256);
        assert_eq!(es256.key_refresh_interval, 300, "five minutes by default");
        assert!(
            !format!("{es256:?}").contains(pem.lines().nth(1).unwrap()),
            "the key never shows"
        );
        let err = config_from(&[("JWT_ALGORITHM", "ES256"), ("JWT_SIGNING_KEY", &pem)]).unwrap_err();
        assert!(err.to_string().contains("JWT_ISSUER"), "ES256 names its issuer: {err}");
        let err = config_from(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SIGNING_KEY", KEY),
            ("JWT_ISSUER", issuer),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("JWT_SIGNING_KEY") && !err.to_string().contains(KEY),
            "{err}"
        );
        for bad in ["RS256", "none", "hs256"] {
            let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("JWT_ALGORITHM", bad)]).unwrap_err();
            assert!(err.to_string().contains("JWT_ALGORITHM"), "{bad}");
        }
        for bad in [
            "https://api.example.com/account/",
            "api.example.com/account",
            "https://x/a?b",
            "https://",
        ] {
            let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("JWT_ISSUER", bad)]).unwrap_err();
            assert!(err.to_string().contains("JWT_ISSUER"), "{bad}");
        }
        for bad in ["-1", "86401", "soon"] {
            let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("JWT_KEY_REFRESH_SECONDS", bad)]).unwrap_err();
            assert!(err.to_string().contains("JWT_KEY_REFRESH_SECONDS"), "{bad}");
        }
        let every_request = config_from(&[("JWT_SIGNING_KEY", KEY), ("JWT_KEY_REFRESH_SECONDS", "0")]).unwrap();
        assert_eq!(every_request.key_refresh_interval, 0);
    }

    #[test]
    fn bad_values_are_refused_by_name_and_the_key_never_shows() {
        let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("ROTATE_REFRESH_TOKENS", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("ROTATE_REFRESH_TOKENS"));
        let config = config_from(&[("JWT_SIGNING_KEY", KEY), ("COOKIE_SECURE", "false")]).unwrap();
        assert!(!config.cookie_secure);
        assert!(!format!("{config:?}").contains(KEY));
        let err = config_from(&[("JWT_SIGNING_KEY", KEY), ("ALLOWED_ORIGINS", "*")]).unwrap_err();
        assert!(err.to_string().contains("ALLOWED_ORIGINS"));
    }
}
