//! The signing keys a function holds: the current one, which signs, and the previous one, which
//! still verifies what it signed before a rotation. Each has a key id (`kid`), and a token is
//! checked only with the key its `kid` names. HS256 keys are shared secrets; ES256 keys are P-256
//! private keys (PKCS#8 PEM) whose public halves are published (`/account/.well-known/jwks.json`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::jws::{SigningKey, sha256};
use super::links::EmailKeys;

/// The shortest HS256 secret we accept (contract §2): 256 bits.
pub const MIN_HS256_KEY_BYTES: usize = 32;

/// The algorithm every token of a deployment is signed with (`JWT_ALGORITHM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Es256,
}

impl JwtAlgorithm {
    pub fn jose(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Es256 => "ES256",
        }
    }
}

impl FromStr for JwtAlgorithm {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "HS256" => Ok(JwtAlgorithm::Hs256),
            "ES256" => Ok(JwtAlgorithm::Es256),
            _ => Err(()),
        }
    }
}

/// The stored form of the keys: the HS256 secret or the ES256 PEM, as the environment, a file
/// or a Secrets Manager version holds it.
#[derive(Clone)]
pub struct KeyMaterial {
    pub current: SecretString,
    pub previous: Option<SecretString>,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial([redacted])")
    }
}

/// Why keys were refused. Names which key, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {which} signing key must be {expected}")]
pub struct KeyRejected {
    pub which: &'static str,
    pub expected: &'static str,
}

/// A key that verifies, with its id.
pub struct HeldKey {
    pub kid: String,
    pub decoding: DecodingKey,
    /// The public key as a JWK (ES256 only: an HS256 key is never published).
    pub public_jwk: Option<Value>,
}

/// The keys a function holds: built from [`KeyMaterial`], one that signs and one or two that
/// verify; or, for a function that only verifies ES256 tokens, from the published public keys
/// alone ([`KeyRing::verify_only`]: nothing that signs or makes a link).
pub struct KeyRing {
    pub algorithm: JwtAlgorithm,
    /// The current key's id (the one that signs, or signed, new tokens).
    pub signing_kid: String,
    /// `None` in a verify-only ring.
    pub signing: Option<SigningKey>,
    /// The current key first, then the previous one (if any, and not the same key).
    pub held: Vec<HeldKey>,
    /// The MAC keys of the mailed links, derived from the same keys (`email_token`); `None` in
    /// a verify-only ring.
    pub email: Option<Arc<EmailKeys>>,
}

/// What a function does with the signing keys, chosen by the function itself (its `main.rs`):
/// only a function that signs tokens or makes or checks mailed links holds the private key. A
/// verifier of ES256 tokens holds the public keys alone (HS256 has none: its shared secret is
/// what verifies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Sign,
    Verify,
}

impl KeyRing {
    pub fn build(algorithm: JwtAlgorithm, material: &KeyMaterial) -> Result<Self, KeyRejected> {
        let (signing, current) = parse(algorithm, material.current.expose_secret(), "current")?;
        let mut held = vec![current];
        if let Some(previous) = &material.previous {
            match parse(algorithm, previous.expose_secret(), "previous") {
                Ok((_, previous)) if previous.kid != held[0].kid => held.push(previous),
                Ok(_) => {}
                // Right after a switch of algorithm (an HS256 secret replaced by a P-256 key),
                // the previous version is of the other kind: it could verify no token of this
                // mode anyway, so it is left out rather than stopping the function.
                Err(rejected) => tracing::warn!(%rejected, "the previous signing key is left out"),
            }
        }
        Ok(KeyRing {
            algorithm,
            signing_kid: held[0].kid.clone(),
            signing: Some(signing),
            held,
            email: Some(Arc::new(email_keys(material)?)),
        })
    }

    /// A ring of the ES256 public keys in `jwk_set` (the JWK Set the key set secret holds, as
    /// [`KeyRing::jwks`] publishes it, current key first): it verifies, and can do nothing else.
    /// Every key must be a P-256 `sig` key whose `kid` is its RFC 7638 thumbprint.
    pub fn verify_only(jwk_set: &str) -> Result<Self, KeyRejected> {
        let rejected = |expected| KeyRejected {
            which: "public",
            expected,
        };
        let set: Value = serde_json::from_str(jwk_set).map_err(|_| rejected("a JSON Web Key Set"))?;
        let keys = set["keys"].as_array().ok_or(rejected("a JSON Web Key Set"))?;
        let mut held: Vec<HeldKey> = Vec::new();
        for jwk in keys {
            let key = public_key(jwk).ok_or(rejected("P-256 keys whose kid is their RFC 7638 thumbprint"))?;
            if !held.iter().any(|other| other.kid == key.kid) {
                held.push(key);
            }
        }
        let signing_kid = held.first().map(|key| key.kid.clone()).ok_or(rejected(
            "a key set with a key (publish it: account-admin publish-public-keys)",
        ))?;
        Ok(KeyRing {
            algorithm: JwtAlgorithm::Es256,
            signing_kid,
            signing: None,
            held,
            email: None,
        })
    }

    /// The key a token's `kid` names, if we hold it.
    pub fn key(&self, kid: &str) -> Option<&HeldKey> {
        self.held.iter().find(|key| key.kid == kid)
    }

    /// The JWK Set of the public keys (RFC 7517 §5), current first; `None` for HS256.
    pub fn jwks(&self) -> Option<Value> {
        let keys: Option<Vec<Value>> = self.held.iter().map(|key| key.public_jwk.clone()).collect();
        keys.map(|keys| json!({ "keys": keys }))
    }
}

fn parse(algorithm: JwtAlgorithm, stored: &str, which: &'static str) -> Result<(SigningKey, HeldKey), KeyRejected> {
    match algorithm {
        JwtAlgorithm::Hs256 => {
            if stored.len() < MIN_HS256_KEY_BYTES {
                return Err(KeyRejected {
                    which,
                    expected: "at least 32 bytes long",
                });
            }
            let secret = stored.as_bytes();
            let held = HeldKey {
                kid: hs256_kid(secret),
                decoding: DecodingKey::from_secret(secret),
                public_jwk: None,
            };
            Ok((SigningKey::hs256(secret), held))
        }
        JwtAlgorithm::Es256 => {
            let expected = "a P-256 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)";
            let der = pem_private_key(stored).ok_or(KeyRejected { which, expected })?;
            let signing = SigningKey::es256(&der).map_err(|_| KeyRejected { which, expected })?;
            let point = signing.public_point().ok_or(KeyRejected { which, expected })?.to_vec();
            let (x, y) = (
                URL_SAFE_NO_PAD.encode(&point[1..33]),
                URL_SAFE_NO_PAD.encode(&point[33..]),
            );
            let kid = jwk_thumbprint(&x, &y);
            let held = HeldKey {
                public_jwk: Some(public_jwk(&x, &y, &kid)),
                kid,
                decoding: DecodingKey::from_ec_der(&point),
            };
            Ok((signing, held))
        }
    }
}

/// The mailed links' MAC keys, derived from the current key's stored form and the previous one's.
fn email_keys(material: &KeyMaterial) -> Result<EmailKeys, KeyRejected> {
    let current = material.current.expose_secret().as_bytes();
    let previous = material.previous.as_ref().map(|key| key.expose_secret().as_bytes());
    EmailKeys::from_secrets(current, previous).map_err(|_| KeyRejected {
        which: "current",
        expected: "usable to derive the mailed links' keys",
    })
}

/// A verifying key from one published JWK, if it is a P-256 signing key named by its thumbprint.
fn public_key(jwk: &Value) -> Option<HeldKey> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if text("kty") != Some("EC") || text("crv") != Some("P-256") || jwk.get("d").is_some() {
        return None;
    }
    let (x, y) = (text("x")?, text("y")?);
    let (x_bytes, y_bytes) = (URL_SAFE_NO_PAD.decode(x).ok()?, URL_SAFE_NO_PAD.decode(y).ok()?);
    if x_bytes.len() != 32 || y_bytes.len() != 32 {
        return None;
    }
    let kid = jwk_thumbprint(x, y);
    if text("kid") != Some(kid.as_str()) {
        return None;
    }
    let mut point = vec![0x04];
    point.extend_from_slice(&x_bytes);
    point.extend_from_slice(&y_bytes);
    Some(HeldKey {
        decoding: DecodingKey::from_ec_der(&point),
        public_jwk: Some(public_jwk(x, y, &kid)),
        kid,
    })
}

/// A P-256 public key as we publish it.
fn public_jwk(x: &str, y: &str, kid: &str) -> Value {
    json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y,
        "kid": kid, "use": "sig", "alg": "ES256",
    })
}

/// The RFC 7638 thumbprint of a P-256 public key: SHA-256 of its required members in
/// lexicographic order, base64url. Anyone holding the JWK can recompute it.
fn jwk_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

/// An HS256 key's id: 96 bits of a labelled SHA-256 of the secret. A hash of a random
/// 256-bit secret tells nothing about it, and the label keeps it apart from any other use.
fn hs256_kid(secret: &[u8]) -> String {
    let mut labelled = b"account-api HS256 kid\0".to_vec();
    labelled.extend_from_slice(secret);
    URL_SAFE_NO_PAD.encode(&sha256(&labelled)[..12])
}

/// The DER inside a `PRIVATE KEY` PEM block (RFC 7468), whitespace tolerated.
fn pem_private_key(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .strip_suffix("-----END PRIVATE KEY-----")?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(base64).ok()
}

/// A PKCS#8 document as PEM (what `make dev` and `make rotate-key` write).
pub fn pem_from_pkcs8(der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// A new key of `algorithm` as it is stored: 48 random bytes in base64url for HS256 (384 bits,
/// above the 256 the contract asks), a PEM private key for ES256.
pub fn new_signing_key(algorithm: JwtAlgorithm) -> Option<String> {
    match algorithm {
        JwtAlgorithm::Hs256 => {
            let mut secret = [0u8; 48];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).ok()?;
            Some(URL_SAFE_NO_PAD.encode(secret))
        }
        JwtAlgorithm::Es256 => new_es256_pem(),
    }
}

/// A new ES256 private key, as PEM.
pub fn new_es256_pem() -> Option<String> {
    super::jws::generate_es256_pkcs8().ok().map(|der| pem_from_pkcs8(&der))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` (OpenSSL 3.0):
    // a test key, used nowhere else.
    const OPENSSL_PEM: &str = include_str!("../../tests/data/openssl-p256.pem");

    fn material(current: &str, previous: Option<&str>) -> KeyMaterial {
        KeyMaterial {
            current: SecretString::from(current.to_owned()),
            previous: previous.map(|key| SecretString::from(key.to_owned())),
        }
    }

    #[test]
    fn an_openssl_key_loads_and_its_kid_is_its_rfc_7638_thumbprint() {
        let ring = KeyRing::build(JwtAlgorithm::Es256, &material(OPENSSL_PEM, None)).unwrap();
        let jwk = ring.held[0].public_jwk.clone().unwrap();
        let canonical =
            serde_json::to_string(&json!({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]})).unwrap();
        assert_eq!(ring.signing_kid, URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes())));
        assert_eq!(jwk["kid"], ring.signing_kid.as_str());
        assert_eq!((jwk["use"].as_str(), jwk["alg"].as_str()), (Some("sig"), Some("ES256")));
        assert!(jwk.get("d").is_none(), "no private part is published");
        assert_eq!(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
    }

    #[test]
    fn the_previous_key_is_held_and_published_after_the_current_one() {
        let (old, new) = (new_es256_pem().unwrap(), new_es256_pem().unwrap());
        let ring = KeyRing::build(JwtAlgorithm::Es256, &material(&new, Some(&old))).unwrap();
        let only_old = KeyRing::build(JwtAlgorithm::Es256, &material(&old, None)).unwrap();
        assert_eq!(ring.held.len(), 2);
        assert_eq!(ring.held[1].kid, only_old.signing_kid);
        assert_ne!(ring.signing_kid, only_old.signing_kid);
        let jwks = ring.jwks().unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [ring.signing_kid.as_str(), only_old.signing_kid.as_str()]);
        let same = KeyRing::build(JwtAlgorithm::Es256, &material(&new, Some(&new))).unwrap();
        assert_eq!(same.held.len(), 1, "a key is held once");
    }

    /// Security review #17: a function that only verifies ES256 tokens holds the published
    /// public keys and nothing that signs or makes a link, and verifies what the signer signed.
    #[test]
    fn a_verify_only_ring_from_the_published_keys_verifies_and_cannot_sign() {
        let (old, new) = (new_es256_pem().unwrap(), new_es256_pem().unwrap());
        let signer = KeyRing::build(JwtAlgorithm::Es256, &material(&new, Some(&old))).unwrap();
        let published = signer.jwks().unwrap().to_string();
        let verifier = KeyRing::verify_only(&published).unwrap();
        assert!(verifier.signing.is_none() && verifier.email.is_none());
        assert_eq!(verifier.signing_kid, signer.signing_kid);
        assert_eq!(
            verifier.held.iter().map(|key| &key.kid).collect::<Vec<_>>(),
            signer.held.iter().map(|key| &key.kid).collect::<Vec<_>>()
        );
        assert_eq!(verifier.jwks(), signer.jwks(), "it publishes what it was given");
        // A token the signer signs verifies with the verifier's key of that kid.
        crate::tokens::jws::install();
        let message = b"header.payload";
        let signature = signer.signing.as_ref().unwrap().sign(message).unwrap();
        let key = verifier.key(&signer.signing_kid).unwrap();
        let token = format!(
            "{}.{}",
            std::str::from_utf8(message).unwrap(),
            URL_SAFE_NO_PAD.encode(&signature)
        );
        let mut parts = token.rsplitn(2, '.');
        let (signature, signed) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key.decoding, Algorithm::ES256).unwrap());
    }

    #[test]
    fn a_published_key_set_is_refused_unless_every_key_is_a_p256_key_named_by_its_thumbprint() {
        let signer = KeyRing::build(JwtAlgorithm::Es256, &material(&new_es256_pem().unwrap(), None)).unwrap();
        let good = signer.jwks().unwrap();
        let mut renamed = good.clone();
        renamed["keys"][0]["kid"] = json!("someone-elses-kid");
        let mut private = good.clone();
        private["keys"][0]["d"] = json!("AAAA");
        let mut short = good.clone();
        short["keys"][0]["x"] = json!("AAAA");
        for bad in [
            renamed.to_string(),
            private.to_string(),
            short.to_string(),
            json!({"keys": []}).to_string(),
            json!({"keys": [{"kty": "oct", "k": "AAAA"}]}).to_string(),
            "not json".to_owned(),
        ] {
            let refused = KeyRing::verify_only(&bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(refused.which, "public", "{bad}");
        }
    }

    #[test]
    fn hs256_keys_have_ids_and_are_never_published() {
        let key = "0123456789abcdef0123456789abcdef";
        let ring = KeyRing::build(
            JwtAlgorithm::Hs256,
            &material(key, Some("another-key-0123456789abcdefghijkl")),
        )
        .unwrap();
        assert_eq!(ring.held.len(), 2);
        assert_eq!(ring.signing_kid.len(), 16);
        assert!(!ring.signing_kid.contains(key));
        assert_eq!(ring.jwks(), None);
    }

    #[test]
    fn bad_keys_are_refused_by_role_without_their_value() {
        let short = KeyRing::build(JwtAlgorithm::Hs256, &material("too-short", None))
            .err()
            .unwrap();
        assert_eq!(short.which, "current");
        let pem = new_es256_pem().unwrap();
        let hs_as_es = KeyRing::build(JwtAlgorithm::Es256, &material("0123456789abcdef0123456789abcdef", None))
            .err()
            .unwrap();
        assert_eq!(hs_as_es.which, "current");
        assert!(!hs_as_es.to_string().contains("0123456789abcdef"));
        // After a switch from HS256, the previous version is the old secret: left out, not fatal.
        let switched = KeyRing::build(
            JwtAlgorithm::Es256,
            &material(&pem, Some("0123456789abcdef0123456789abcdef")),
        );
        assert_eq!(switched.map(|ring| ring.held.len()).ok(), Some(1));
        let truncated = format!("{}\n-----END PRIVATE KEY-----", &pem[..100]);
        assert!(KeyRing::build(JwtAlgorithm::Es256, &material(&truncated, None)).is_err());
        let rsa_shaped = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8=\n-----END PRIVATE KEY-----";
        assert!(KeyRing::build(JwtAlgorithm::Es256, &material(rsa_shaped, None)).is_err());
    }
}
