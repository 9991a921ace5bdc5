//! Where the signing keys come from, and reading them again while a function is warm, so a
//! rotation reaches it without a deploy: from Secrets Manager (`AWSCURRENT` and `AWSPREVIOUS`
//! of the secret `JWT_SIGNING_KEY_SECRET_ARN` names), from two files (`JWT_SIGNING_KEY_FILE`,
//! `JWT_PREVIOUS_SIGNING_KEY_FILE`: `make dev`, `make test`, `make rotate-key`), or from the
//! environment itself (`JWT_SIGNING_KEY`: fixed for the life of the process). This is the one
//! setting read after the cold start.
//!
//! A function that only verifies ES256 tokens never reads the private key: it reads the JWK Set
//! of the public keys (the secret `JWT_PUBLIC_KEYS_SECRET_ARN`, one version, written at each
//! rotation; the file `JWT_PUBLIC_KEYS_FILE` locally; `JWT_PUBLIC_KEYS` itself).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};

use secrecy::{ExposeSecret, SecretString};

use super::jwt::TokenKeys;
use super::keys::{JwtAlgorithm, KeyMaterial, KeyRejected, KeyRing, KeyUse};

/// Why keys could not be read or written. Names what, never a key's value.
#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} must be {expected}")]
    Invalid { name: &'static str, expected: &'static str },
    #[error("the signing key secret could not be read: {0}")]
    Secret(String),
    #[error("{0}")]
    Key(#[from] KeyRejected),
}

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
    /// The public keys' JWK Set in a file (a verify-only function, locally).
    PublicKeysFile(PathBuf),
    /// The public keys' JWK Set in a secret (a verify-only function, on AWS): its current version.
    PublicKeysSecret {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

/// The keys as a source holds them.
pub enum StoredKeys {
    /// The signing keys themselves.
    Private(KeyMaterial),
    /// The JWK Set of the public keys.
    Public(String),
}

impl StoredKeys {
    /// The ring these keys make for a deployment of `algorithm`.
    pub fn ring(&self, algorithm: JwtAlgorithm) -> Result<KeyRing, KeyRejected> {
        match self {
            StoredKeys::Private(material) => KeyRing::build(algorithm, material),
            StoredKeys::Public(jwk_set) => KeyRing::verify_only(jwk_set),
        }
    }
}

impl KeySource {
    // ANCHOR: variables
    /// The source the environment names for a function that uses the keys as `key_use` says:
    /// one that only verifies ES256 tokens (`JWT_ALGORITHM=ES256`) reads the public keys (the
    /// value itself, a file or the secret); any other reads the signing keys (the value itself
    /// wins, then files, then the secret).
    pub fn from_env(sdk: &aws_config::SdkConfig, key_use: KeyUse) -> Result<Self, KeySourceError> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        let es256 = var("JWT_ALGORITHM").is_some_and(|name| name.trim() == "ES256");
        if key_use == KeyUse::Verify && es256 {
            if var("JWT_PUBLIC_KEYS").is_some() {
                return Ok(KeySource::Environment);
            }
            if let Some(path) = var("JWT_PUBLIC_KEYS_FILE") {
                return Ok(KeySource::PublicKeysFile(path.into()));
            }
            return match var("JWT_PUBLIC_KEYS_SECRET_ARN") {
                Some(secret_id) => Ok(KeySource::PublicKeysSecret {
                    client: aws_sdk_secretsmanager::Client::new(sdk),
                    secret_id,
                }),
                None => Err(KeySourceError::Missing("JWT_PUBLIC_KEYS_SECRET_ARN")),
            };
        }
        Ok(Self::signing_keys_from_env(sdk))
    }

    /// Whether this source holds the public keys alone.
    pub fn is_public_keys(&self) -> bool {
        matches!(self, KeySource::PublicKeysFile(_) | KeySource::PublicKeysSecret { .. })
    }

    fn signing_keys_from_env(sdk: &aws_config::SdkConfig) -> Self {
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
    pub async fn read(&self) -> Result<Option<StoredKeys>, KeySourceError> {
        match self {
            KeySource::Environment => Ok(None),
            KeySource::PublicKeysFile(path) => std::fs::read_to_string(path)
                .map(|text| Some(StoredKeys::Public(text)))
                .map_err(|error| KeySourceError::Secret(format!("{}: {}", path.display(), error.kind()))),
            KeySource::PublicKeysSecret { client, secret_id } => {
                let current = stage(client, secret_id, "AWSCURRENT").await?;
                let jwk_set = current.ok_or_else(|| KeySourceError::Secret("no AWSCURRENT version".to_owned()))?;
                Ok(Some(StoredKeys::Public(jwk_set.expose_secret().to_owned())))
            }
            KeySource::Files { current, previous } => {
                let read = |path: &PathBuf| {
                    std::fs::read_to_string(path)
                        .map(|text| text.trim().to_owned())
                        .map_err(|error| KeySourceError::Secret(format!("{}: {}", path.display(), error.kind())))
                };
                let previous = match previous {
                    // A missing previous file is no previous key (before the first rotation).
                    Some(path) if path.exists() => Some(SecretString::from(read(path)?)),
                    _ => None,
                };
                Ok(Some(StoredKeys::Private(KeyMaterial {
                    current: SecretString::from(read(current)?),
                    previous,
                })))
            }
            KeySource::SecretsManager { client, secret_id } => {
                // Both versions at once: one round trip of latency, as the single read was.
                let (current, previous) = tokio::join!(
                    stage(client, secret_id, "AWSCURRENT"),
                    stage(client, secret_id, "AWSPREVIOUS")
                );
                let current = current?.ok_or_else(|| KeySourceError::Secret("no AWSCURRENT version".to_owned()))?;
                Ok(Some(StoredKeys::Private(KeyMaterial {
                    current,
                    previous: previous?,
                })))
            }
        }
    }
}

/// Writes into the key set secret the public halves of the signing secret's current and previous
/// ES256 keys: the first publication after an ES256 key is put, or a repair. Answers the key ids.
pub async fn publish_public_keys(
    client: &aws_sdk_secretsmanager::Client,
    signing_secret: &str,
    key_set_secret: &str,
) -> Result<Vec<String>, KeySourceError> {
    let current = stage(client, signing_secret, "AWSCURRENT")
        .await?
        .ok_or_else(|| KeySourceError::Secret("the signing secret has no AWSCURRENT version".to_owned()))?;
    let previous = stage(client, signing_secret, "AWSPREVIOUS").await?;
    let ring = KeyRing::build(JwtAlgorithm::Es256, &KeyMaterial { current, previous })?;
    put(client, key_set_secret, &public_key_set(&ring)?).await?;
    Ok(ring.held.iter().map(|key| key.kid.clone()).collect())
}

/// A rotation of the signing secret to a new key of `algorithm`: the current key becomes the
/// previous one (Secrets Manager moves `AWSPREVIOUS`), which still verifies. Under ES256 the key
/// set secret learns the new public key first and `wait` passes (the functions' key refresh
/// interval) before anything signs with it, so no verifier meets a key id it does not know.
/// Answers the new key's id.
pub async fn rotate_signing_key(
    client: &aws_sdk_secretsmanager::Client,
    algorithm: JwtAlgorithm,
    signing_secret: &str,
    key_set_secret: Option<&str>,
    wait: std::time::Duration,
) -> Result<String, KeySourceError> {
    let fresh = super::keys::new_signing_key(algorithm)
        .ok_or_else(|| KeySourceError::Secret("no new key could be made".to_owned()))?;
    let current = stage(client, signing_secret, "AWSCURRENT").await?;
    let next = KeyRing::build(
        algorithm,
        &KeyMaterial {
            current: SecretString::from(fresh.clone()),
            previous: current,
        },
    )?;
    if algorithm == JwtAlgorithm::Es256 {
        let key_set_secret = key_set_secret.ok_or(KeySourceError::Missing("the public key set secret"))?;
        put(client, key_set_secret, &public_key_set(&next)?).await?;
        tokio::time::sleep(wait).await;
    }
    put(client, signing_secret, &fresh).await?;
    Ok(next.signing_kid.clone())
}

/// The JWK Set a verify-only function reads, as text.
fn public_key_set(ring: &KeyRing) -> Result<String, KeySourceError> {
    ring.jwks().map(|set| set.to_string()).ok_or(KeySourceError::Invalid {
        name: "JWT_ALGORITHM",
        expected: "ES256 to have public keys",
    })
}

/// A new version of `secret_id` holding `value`, made `AWSCURRENT` (the one before becomes
/// `AWSPREVIOUS`).
async fn put(client: &aws_sdk_secretsmanager::Client, secret_id: &str, value: &str) -> Result<(), KeySourceError> {
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|error| {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            KeySourceError::Secret(format!(
                "{secret_id} could not be written: {}",
                error.code().unwrap_or("unreachable")
            ))
        })
}

/// One staging label's value; `None` when no version carries it (`AWSPREVIOUS` before the
/// first rotation).
async fn stage(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    label: &str,
) -> Result<Option<SecretString>, KeySourceError> {
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
            .ok_or_else(|| KeySourceError::Secret(format!("the {label} version has no string value"))),
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
            Err(KeySourceError::Secret(
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
        let stored = match self.source.read().await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Refreshed::NotDue,
            Err(error) => {
                tracing::warn!(%error, "the signing keys could not be read again; the keys in force stay");
                return Refreshed::Kept;
            }
        };
        let ring = match stored.ring(self.algorithm) {
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
        let dir = std::env::temp_dir().join(format!("key-source-{name}-{}", crate::ids::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_rotation_reaches_a_warm_function_after_the_interval_and_not_before() {
        let dir = temp_dir("rotation");
        let (current, previous) = files(&dir);
        let (old, new) = (
            crate::tokens::keys::new_es256_pem().unwrap(),
            crate::tokens::keys::new_es256_pem().unwrap(),
        );
        std::fs::write(&current, &old).unwrap();
        let config = Config::from_lookup(|name| match name {
            "JWT_ALGORITHM" => Some("ES256".to_owned()),
            "JWT_ISSUER" => Some("https://api.example.com/account".to_owned()),
            "JWT_SIGNING_KEY" => Some(old.clone()),
            _ => None,
        })
        .unwrap();
        let tokens = config.token_keys();
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
        let tokens = config.token_keys();
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
