//! Where the signing keys come from, and reading them again while a function is warm, so a
//! rotation reaches it without a deploy: from Secrets Manager (`AWSCURRENT` and `AWSPREVIOUS`
//! of the secret `JWT_SIGNING_KEY_SECRET_ARN` names), from two files (`JWT_SIGNING_KEY_FILE`,
//! `JWT_PREVIOUS_SIGNING_KEY_FILE`: `make dev`, `make test`, `make rotate-key`), or from the
//! environment itself (`JWT_SIGNING_KEY`: fixed for the life of the process). This is the one
//! setting read after the cold start.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};

use secrecy::SecretString;

use crate::config::ConfigError;
use crate::keys::{JwtAlgorithm, KeyMaterial, KeyRing};
use crate::token::TokenKeys;

pub enum KeySource {
    Environment,
    Files {
        current: PathBuf,
        previous: Option<PathBuf>,
    },
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

impl KeySource {
    // ANCHOR: variables
    /// The source the environment names: the value itself wins, then files, then the secret.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        if var("JWT_SIGNING_KEY").is_some() {
            return KeySource::Environment;
        }
        if let Some(current) = var("JWT_SIGNING_KEY_FILE") {
            return KeySource::Files {
                current: current.into(),
                previous: var("JWT_PREVIOUS_SIGNING_KEY_FILE").map(PathBuf::from),
            };
        }
        match var("JWT_SIGNING_KEY_SECRET_ARN") {
            Some(secret_id) => KeySource::SecretsManager {
                client: aws_sdk_secretsmanager::Client::new(sdk),
                secret_id,
            },
            None => KeySource::Environment,
        }
    }
    // ANCHOR_END: variables

    /// The keys as stored now; `None` for the environment, which never changes.
    pub async fn read(&self) -> Result<Option<KeyMaterial>, ConfigError> {
        match self {
            KeySource::Environment => Ok(None),
            KeySource::Files { current, previous } => {
                let read = |path: &PathBuf| {
                    std::fs::read_to_string(path)
                        .map(|text| text.trim().to_owned())
                        .map_err(|error| ConfigError::Secret(format!("{}: {}", path.display(), error.kind())))
                };
                let previous = match previous {
                    // A missing previous file is no previous key (before the first rotation).
                    Some(path) if path.exists() => Some(SecretString::from(read(path)?)),
                    _ => None,
                };
                Ok(Some(KeyMaterial {
                    current: SecretString::from(read(current)?),
                    previous,
                }))
            }
            KeySource::SecretsManager { client, secret_id } => {
                // Both versions at once: one round trip of latency, as the single read was.
                let (current, previous) = tokio::join!(
                    stage(client, secret_id, "AWSCURRENT"),
                    stage(client, secret_id, "AWSPREVIOUS")
                );
                let current = current?.ok_or_else(|| ConfigError::Secret("no AWSCURRENT version".to_owned()))?;
                Ok(Some(KeyMaterial {
                    current,
                    previous: previous?,
                }))
            }
        }
    }
}

/// One staging label's value; `None` when no version carries it (`AWSPREVIOUS` before the
/// first rotation).
async fn stage(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    label: &str,
) -> Result<Option<SecretString>, ConfigError> {
    match client
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(label)
        .send()
        .await
    {
        Ok(output) => output
            .secret_string
            .map(|value| Some(SecretString::from(value)))
            .ok_or_else(|| ConfigError::Secret(format!("the {label} version has no string value"))),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(error) => {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            crate::logging::alert_if_access_denied("secretsmanager", error.code());
            Err(ConfigError::Secret(
                aws_sdk_secretsmanager::error::DisplayErrorContext(&error).to_string(),
            ))
        }
    }
}

/// Reads the keys again at most every `interval` seconds, before a request (Lambda runs one at
/// a time per instance). The clock is the caller's, so tests move it by hand.
pub struct KeyRefresh {
    source: KeySource,
    algorithm: JwtAlgorithm,
    interval: i64,
    next_read_at: AtomicI64,
}

/// What a call to [`KeyRefresh::refresh_if_due`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    NotDue,
    Unchanged,
    Replaced,
    /// The read or the keys failed: the keys in force stay, and the next read waits a whole
    /// interval (a Secrets Manager outage must not add a failing call to every request).
    Kept,
}

impl KeyRefresh {
    /// `read_at`: when the keys in force were read (the cold start).
    pub fn new(source: KeySource, algorithm: JwtAlgorithm, interval: i64, read_at: i64) -> Self {
        KeyRefresh {
            source,
            algorithm,
            interval,
            next_read_at: AtomicI64::new(read_at.saturating_add(interval)),
        }
    }

    pub async fn refresh_if_due(&self, tokens: &TokenKeys, now: i64) -> Refreshed {
        if matches!(self.source, KeySource::Environment) || now < self.next_read_at.load(Ordering::Relaxed) {
            return Refreshed::NotDue;
        }
        self.next_read_at
            .store(now.saturating_add(self.interval), Ordering::Relaxed);
        let material = match self.source.read().await {
            Ok(Some(material)) => material,
            Ok(None) => return Refreshed::NotDue,
            Err(error) => {
                tracing::warn!(%error, "the signing keys could not be read again; the keys in force stay");
                return Refreshed::Kept;
            }
        };
        let ring = match KeyRing::build(self.algorithm, &material) {
            Ok(ring) => ring,
            Err(error) => {
                tracing::warn!(%error, "the signing keys read again were refused; the keys in force stay");
                return Refreshed::Kept;
            }
        };
        let in_force = tokens.ring();
        let kids = |ring: &KeyRing| ring.held.iter().map(|key| key.kid.clone()).collect::<Vec<_>>();
        if kids(&ring) == kids(&in_force) {
            return Refreshed::Unchanged;
        }
        // Key ids are public (they are in every token and the JWKS); the keys never are.
        tracing::info!(signing_kid = %ring.signing_kid, "signing keys replaced");
        tokens.replace(ring);
        Refreshed::Replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn files(dir: &std::path::Path) -> (PathBuf, PathBuf) {
        (dir.join("current.pem"), dir.join("previous.pem"))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("key-source-{name}-{}", crate::token::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_rotation_reaches_a_warm_function_after_the_interval_and_not_before() {
        let dir = temp_dir("rotation");
        let (current, previous) = files(&dir);
        let (old, new) = (
            crate::keys::new_es256_pem().unwrap(),
            crate::keys::new_es256_pem().unwrap(),
        );
        std::fs::write(&current, &old).unwrap();
        let config = Config::from_lookup(|name| match name {
            "JWT_ALGORITHM" => Some("ES256".to_owned()),
            "JWT_ISSUER" => Some("https://api.example.com/account".to_owned()),
            "JWT_SIGNING_KEY" => Some(old.clone()),
            _ => None,
        })
        .unwrap();
        let tokens = TokenKeys::new(&config);
        let source = KeySource::Files {
            current: current.clone(),
            previous: Some(previous.clone()),
        };
        let refresh = KeyRefresh::new(source, JwtAlgorithm::Es256, 300, 1_000);
        let old_kid = tokens.ring().signing_kid.clone();
        assert_eq!(refresh.refresh_if_due(&tokens, 1_299).await, Refreshed::NotDue);
        assert_eq!(refresh.refresh_if_due(&tokens, 1_300).await, Refreshed::Unchanged);
        // make rotate-key: the current key becomes the previous one, a new one the current.
        std::fs::write(&previous, &old).unwrap();
        std::fs::write(&current, &new).unwrap();
        assert_eq!(
            refresh.refresh_if_due(&tokens, 1_599).await,
            Refreshed::NotDue,
            "not before the interval"
        );
        assert_eq!(tokens.ring().signing_kid, old_kid);
        assert_eq!(refresh.refresh_if_due(&tokens, 1_600).await, Refreshed::Replaced);
        let ring = tokens.ring();
        assert_ne!(ring.signing_kid, old_kid);
        assert!(ring.key(&old_kid).is_some(), "the previous key still verifies");
        // A broken file keeps the keys in force and waits a whole interval.
        std::fs::write(&current, "not a key").unwrap();
        assert_eq!(refresh.refresh_if_due(&tokens, 1_900).await, Refreshed::Kept);
        assert_eq!(tokens.ring().signing_kid, ring.signing_kid);
        assert_eq!(refresh.refresh_if_due(&tokens, 2_199).await, Refreshed::NotDue);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_interval_of_zero_reads_before_every_request_and_the_environment_never() {
        let dir = temp_dir("zero");
        let (current, _) = files(&dir);
        std::fs::write(&current, "0123456789abcdef0123456789abcdef").unwrap();
        let config = Config::from_lookup(|name| {
            (name == "JWT_SIGNING_KEY").then(|| "0123456789abcdef0123456789abcdef".to_owned())
        })
        .unwrap();
        let tokens = TokenKeys::new(&config);
        let refresh = KeyRefresh::new(
            KeySource::Files {
                current: current.clone(),
                previous: None,
            },
            JwtAlgorithm::Hs256,
            0,
            1_000,
        );
        assert_eq!(refresh.refresh_if_due(&tokens, 1_000).await, Refreshed::Unchanged);
        std::fs::write(&current, "fedcba9876543210fedcba9876543210").unwrap();
        assert_eq!(refresh.refresh_if_due(&tokens, 1_000).await, Refreshed::Replaced);
        let fixed = KeyRefresh::new(KeySource::Environment, JwtAlgorithm::Hs256, 0, 1_000);
        assert_eq!(fixed.refresh_if_due(&tokens, 5_000).await, Refreshed::NotDue);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
