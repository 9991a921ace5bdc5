//! Configuration, read from the environment once per cold start.

use std::env;
use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

use crate::cors::Cors;

/// The shortest signing key we accept (contract §2): 256 bits for HS256.
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

/// Everything the functions read from their environment. Field docs name the variable.
#[derive(Clone)]
pub struct Config {
    /// `TABLE_NAME`: the DynamoDB table holding users and sessions.
    pub table_name: String,
    /// `JWT_SIGNING_KEY`: HS256 key, at least 32 bytes. Required; on AWS it is read from the
    /// Secrets Manager secret named by `JWT_SIGNING_KEY_SECRET_ARN` instead.
    pub signing_key: SecretString,
    /// `ACCESS_TOKEN_LIFETIME_SECONDS` (default 3600).
    pub access_token_lifetime: i64,
    /// `REFRESH_TOKEN_LIFETIME_SECONDS` (default 86400).
    pub refresh_token_lifetime: i64,
    /// `JWT_LEEWAY_SECONDS` (default 0): clock skew tolerated on `exp`.
    pub jwt_leeway: u64,
    /// `ROTATE_REFRESH_TOKENS` (default true): each refresh spends the presented token.
    pub rotate_refresh_tokens: bool,
    /// `PASSWORD_CHANGE_REQUIRES_OLD_PASSWORD` (default false).
    pub old_password_required: bool,
    /// `COOKIE_SECURE` (default true): the `Secure` attribute on the token cookies.
    pub cookie_secure: bool,
    /// The brute-force throttle of login (`LOGIN_THROTTLE_*`).
    pub login_throttle: LoginThrottle,
    /// `ALLOWED_ORIGINS` (default none): browser origins allowed to call with credentials.
    pub cors: Cors,
}

/// After `failures` failed logins for one email within `window` seconds, logins for that email
/// are refused for `lockout` seconds, doubling with each further failure up to `max_lockout`.
/// Unknown emails are counted alike. `failures = 0` turns the throttle off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// `LOGIN_THROTTLE_FAILURES` (default 5).
    pub failures: u32,
    /// `LOGIN_THROTTLE_WINDOW_SECONDS` (default 900).
    pub window: i64,
    /// `LOGIN_THROTTLE_LOCKOUT_SECONDS` (default 60).
    pub lockout: i64,
    /// `LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS` (default 3600).
    pub max_lockout: i64,
}

impl LoginThrottle {
    pub fn enabled(&self) -> bool {
        self.failures > 0
    }

    /// The lockout that `count` failures in the window earn, if any: `lockout` at the
    /// threshold, doubled for each failure past it, at most `max_lockout`.
    pub fn lockout_after(&self, count: u32) -> Option<i64> {
        if !self.enabled() || count < self.failures {
            return None;
        }
        let doublings = (count - self.failures).min(32);
        Some(self.lockout.saturating_mul(1_i64 << doublings).min(self.max_lockout))
    }

    /// How long a throttle record must outlive its last write (its DynamoDB TTL).
    pub fn record_lifetime(&self) -> i64 {
        self.window + self.max_lockout
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("signing_key", &"[redacted]")
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("jwt_leeway", &self.jwt_leeway)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("old_password_required", &self.old_password_required)
            .field("cookie_secure", &self.cookie_secure)
            .field("login_throttle", &self.login_throttle)
            .field("cors", &self.cors)
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
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let signing_key = lookup("JWT_SIGNING_KEY").ok_or(ConfigError::Missing("JWT_SIGNING_KEY"))?;
        if signing_key.len() < MIN_SIGNING_KEY_BYTES {
            return Err(ConfigError::Invalid {
                name: "JWT_SIGNING_KEY",
                expected: "at least 32 bytes long",
            });
        }
        let config = Config {
            table_name: lookup("TABLE_NAME").unwrap_or_else(|| "accounts".to_owned()),
            signing_key: SecretString::from(signing_key),
            access_token_lifetime: parse_or(
                &lookup,
                "ACCESS_TOKEN_LIFETIME_SECONDS",
                3600,
                "a positive number of seconds",
            )?,
            refresh_token_lifetime: parse_or(
                &lookup,
                "REFRESH_TOKEN_LIFETIME_SECONDS",
                86400,
                "a positive number of seconds",
            )?,
            jwt_leeway: parse_or(&lookup, "JWT_LEEWAY_SECONDS", 0, "a number of seconds")?,
            rotate_refresh_tokens: parse_bool_or(&lookup, "ROTATE_REFRESH_TOKENS", true)?,
            old_password_required: parse_bool_or(&lookup, "PASSWORD_CHANGE_REQUIRES_OLD_PASSWORD", false)?,
            cookie_secure: parse_bool_or(&lookup, "COOKIE_SECURE", true)?,
            login_throttle: LoginThrottle {
                failures: parse_or(&lookup, "LOGIN_THROTTLE_FAILURES", 5, "a number of failures (0: off)")?,
                window: parse_or(
                    &lookup,
                    "LOGIN_THROTTLE_WINDOW_SECONDS",
                    900,
                    "a positive number of seconds",
                )?,
                lockout: parse_or(
                    &lookup,
                    "LOGIN_THROTTLE_LOCKOUT_SECONDS",
                    60,
                    "a positive number of seconds",
                )?,
                max_lockout: parse_or(
                    &lookup,
                    "LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS",
                    3600,
                    "a positive number of seconds",
                )?,
            },
            cors: Cors::parse(&lookup("ALLOWED_ORIGINS").unwrap_or_default()).map_err(|_| ConfigError::Invalid {
                name: "ALLOWED_ORIGINS",
                expected: "comma-separated origins such as https://app.example.com (no *, no path)",
            })?,
        };
        let throttle = config.login_throttle;
        if throttle.window <= 0 || throttle.lockout <= 0 || throttle.max_lockout < throttle.lockout {
            return Err(ConfigError::Invalid {
                name: "LOGIN_THROTTLE_WINDOW_SECONDS/LOCKOUT_SECONDS/MAX_LOCKOUT_SECONDS",
                expected: "positive, with the maximum lockout at least the first",
            });
        }
        if config.access_token_lifetime <= 0 || config.refresh_token_lifetime <= 0 {
            return Err(ConfigError::Invalid {
                name: "ACCESS_TOKEN_LIFETIME_SECONDS/REFRESH_TOKEN_LIFETIME_SECONDS",
                expected: "positive",
            });
        }
        Ok(config)
    }

    pub(crate) fn signing_key_bytes(&self) -> &[u8] {
        self.signing_key.expose_secret().as_bytes()
    }
}

fn parse_or<T: FromStr>(
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

fn parse_bool_or(
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
    fn lockouts_start_at_the_threshold_and_double_to_the_cap() {
        let throttle = config_from(&[("JWT_SIGNING_KEY", KEY)]).unwrap().login_throttle;
        assert_eq!(
            (
                throttle.failures,
                throttle.window,
                throttle.lockout,
                throttle.max_lockout
            ),
            (5, 900, 60, 3600)
        );
        let lockouts: Vec<Option<i64>> = (1..=13).map(|count| throttle.lockout_after(count)).collect();
        assert_eq!(
            lockouts,
            [
                None,
                None,
                None,
                None,
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(960),
                Some(1920),
                Some(3600),
                Some(3600),
                Some(3600)
            ]
        );
        assert_eq!(throttle.lockout_after(u32::MAX), Some(3600), "no overflow");
        let off = config_from(&[("JWT_SIGNING_KEY", KEY), ("LOGIN_THROTTLE_FAILURES", "0")])
            .unwrap()
            .login_throttle;
        assert!(!off.enabled());
        assert_eq!(off.lockout_after(1000), None);
        assert!(config_from(&[("JWT_SIGNING_KEY", KEY), ("LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS", "10")]).is_err());
        assert!(config_from(&[("JWT_SIGNING_KEY", KEY), ("LOGIN_THROTTLE_WINDOW_SECONDS", "0")]).is_err());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = config_from(&[("JWT_SIGNING_KEY", KEY)]).unwrap();
        assert_eq!(config.table_name, "accounts");
        assert_eq!(config.access_token_lifetime, 3600);
        assert_eq!(config.refresh_token_lifetime, 86400);
        assert_eq!(config.jwt_leeway, 0);
        assert!(config.rotate_refresh_tokens);
        assert!(!config.old_password_required);
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
