//! Signing and verifying JWS signatures with ring, the library TLS already links: HS256
//! (HMAC-SHA256) and ES256 (ECDSA over P-256 with SHA-256, the fixed-length `r || s` form RFC
//! 7518 §3.4 asks for). jsonwebtoken verifies through the provider installed here; every other
//! algorithm is refused, and jsonwebtoken's bundled providers (with their RSA code) are never
//! linked. Tokens are signed here directly, with a key parsed once, instead of through
//! jsonwebtoken's `encode`, which would re-parse (and, for ECDSA, re-check) the key each time.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use ring::{digest, hmac};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    // Only for JWKs, which this service never reads from a token.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this module the process's jsonwebtoken backend. Idempotent; a provider installed
/// earlier (a test binary's) stays, which can only widen what signs, never what we accept:
/// `Validation` pins the configured algorithm and each key names its own.
pub fn install() {
    let _ = PROVIDER.install_default();
}

/// A key that signs: an HMAC key or a P-256 key pair, parsed once.
pub enum SigningKey {
    Hs256(hmac::Key),
    Es256(EcdsaKeyPair),
}

/// The signing key could not be used (only a broken key or RNG can cause it).
#[derive(Debug)]
pub struct SignatureFailed;

impl SigningKey {
    pub fn hs256(secret: &[u8]) -> Self {
        SigningKey::Hs256(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A P-256 key pair from an unencrypted PKCS#8 v1 document (as `openssl genpkey` and ring
    /// make them; the public key must be in it).
    pub fn es256(pkcs8: &[u8]) -> std::result::Result<Self, ring::error::KeyRejected> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new()).map(SigningKey::Es256)
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Hs256(_) => Algorithm::HS256,
            SigningKey::Es256(_) => Algorithm::ES256,
        }
    }

    /// The uncompressed public point (`04 || x || y`) of an ES256 key.
    pub fn public_point(&self) -> Option<&[u8]> {
        match self {
            SigningKey::Hs256(_) => None,
            SigningKey::Es256(pair) => Some(pair.public_key().as_ref()),
        }
    }

    pub fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, SignatureFailed> {
        match self {
            SigningKey::Hs256(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            SigningKey::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SignatureFailed),
        }
    }
}

/// SHA-256 of `data` (key ids).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// A new P-256 key pair as a PKCS#8 document (`make dev`, `make rotate-key`, tests).
pub fn generate_es256_pkcs8() -> std::result::Result<Vec<u8>, SignatureFailed> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map(|document| document.as_ref().to_vec())
        .map_err(|_| SignatureFailed)
}

enum Verifying {
    Hs256(hmac::Key),
    Es256(UnparsedPublicKey<Vec<u8>>),
}

/// HS256 takes an HMAC key, ES256 an uncompressed P-256 point; anything else is refused.
fn verifying(algorithm: &Algorithm, family: AlgorithmFamily, bytes: &[u8]) -> Result<Verifying> {
    match (algorithm, family) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Verifying::Hs256(hmac::Key::new(hmac::HMAC_SHA256, bytes))),
        (Algorithm::ES256, AlgorithmFamily::Ec) => Ok(Verifying::Es256(UnparsedPublicKey::new(
            &ECDSA_P256_SHA256_FIXED,
            bytes.to_vec(),
        ))),
        (Algorithm::HS256 | Algorithm::ES256, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    // Only HMAC signs through jsonwebtoken (nothing of ours does; kept for completeness).
    match verifying(algorithm, key.family(), key.as_bytes())? {
        Verifying::Hs256(key) => Ok(Box::new(Hs256(key))),
        Verifying::Es256(_) => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match verifying(algorithm, key.family(), key.try_get_as_bytes()?)? {
        Verifying::Hs256(key) => Ok(Box::new(Hs256(key))),
        Verifying::Es256(key) => Ok(Box::new(Es256(key))),
    }
}

struct Hs256(hmac::Key);
struct Es256(UnparsedPublicKey<Vec<u8>>);

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.0, message).as_ref().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Constant-time comparison (ring's `hmac::verify`).
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        hmac::verify(&self.0, message, tag).map_err(|_| signature::Error::new())
    }
}

impl Verifier<Vec<u8>> for Es256 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.0.verify(message, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2: HMAC-SHA256 of "what do ya want for nothing?" under "Jefe".
    const RFC4231_TAG: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn signs_and_verifies_hmac_sha256_as_rfc_4231_says() {
        let tag = SigningKey::hs256(b"Jefe")
            .sign(b"what do ya want for nothing?")
            .expect("tag");
        assert_eq!(hex(&tag), RFC4231_TAG);
        let verifier = new_verifier(&Algorithm::HS256, &DecodingKey::from_secret(b"Jefe")).expect("verifier");
        assert!(verifier.verify(b"what do ya want for nothing?", &tag).is_ok());
        let mut forged = tag.clone();
        forged[0] ^= 1;
        assert!(verifier.verify(b"what do ya want for nothing?", &forged).is_err());
        assert!(verifier.verify(b"what do ya want for nothing!", &tag).is_err());
        assert!(
            verifier
                .verify(b"what do ya want for nothing?", &tag[..16].to_vec())
                .is_err()
        );
    }

    #[test]
    fn es256_signatures_are_64_bytes_and_verify_only_under_their_key() {
        let key = SigningKey::es256(&generate_es256_pkcs8().unwrap()).unwrap();
        let other = SigningKey::es256(&generate_es256_pkcs8().unwrap()).unwrap();
        let signature = key.sign(b"header.payload").unwrap();
        assert_eq!(signature.len(), 64, "r || s, not DER");
        let point = key.public_point().unwrap();
        assert_eq!((point.len(), point[0]), (65, 4), "uncompressed point");
        let verifier = new_verifier(&Algorithm::ES256, &DecodingKey::from_ec_der(point)).unwrap();
        assert!(verifier.verify(b"header.payload", &signature).is_ok());
        assert!(verifier.verify(b"header.payloaD", &signature).is_err());
        let foreign = new_verifier(
            &Algorithm::ES256,
            &DecodingKey::from_ec_der(other.public_point().unwrap()),
        )
        .unwrap();
        assert!(foreign.verify(b"header.payload", &signature).is_err());
    }

    #[test]
    fn a_key_of_one_family_never_verifies_the_other_algorithm() {
        let key = SigningKey::es256(&generate_es256_pkcs8().unwrap()).unwrap();
        let point = key.public_point().unwrap();
        // The public point handed over as an HMAC secret, or an HMAC secret as a point.
        assert!(new_verifier(&Algorithm::HS256, &DecodingKey::from_ec_der(point)).is_err());
        assert!(new_verifier(&Algorithm::ES256, &DecodingKey::from_secret(point)).is_err());
    }

    #[test]
    fn refuses_every_other_algorithm() {
        for algorithm in [
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::RS256,
            Algorithm::ES384,
            Algorithm::PS256,
            Algorithm::EdDSA,
        ] {
            assert!(
                new_signer(&algorithm, &EncodingKey::from_secret(b"k")).is_err(),
                "{algorithm:?}"
            );
            assert!(
                new_verifier(&algorithm, &DecodingKey::from_secret(b"k")).is_err(),
                "{algorithm:?}"
            );
            assert!(
                new_verifier(&algorithm, &DecodingKey::from_ec_der(&[4; 65])).is_err(),
                "{algorithm:?}"
            );
        }
    }
}
