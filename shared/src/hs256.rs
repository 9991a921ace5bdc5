//! jsonwebtoken's cryptography, narrowed to the one algorithm this service issues and accepts:
//! HMAC-SHA256 from ring, the library TLS already links. The crate's bundled providers carry
//! RSA, ECDSA and EdDSA code that no token of ours may use; leaving them out keeps that code
//! (and its advisories) out of every binary.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::hmac;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    // Only for JWKs, which this service never reads.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes HS256-only the process's jsonwebtoken backend. Idempotent; a provider installed
/// earlier (a test binary's) stays, which can only widen what signs, never what we accept:
/// `Validation` pins HS256.
pub fn install() {
    let _ = PROVIDER.install_default();
}

struct Hs256(hmac::Key);

fn hs256_key(algorithm: &Algorithm, family: AlgorithmFamily, secret: &[u8]) -> Result<Hs256> {
    if *algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if family != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Hs256(hmac::Key::new(hmac::HMAC_SHA256, secret)))
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(hs256_key(algorithm, key.family(), key.as_bytes())?))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(hs256_key(algorithm, key.family(), key.try_get_as_bytes()?)?))
}

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
        let signer = new_signer(&Algorithm::HS256, &EncodingKey::from_secret(b"Jefe")).expect("HS256 signer");
        let tag = signer.try_sign(b"what do ya want for nothing?").expect("signature");
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
    fn refuses_every_other_algorithm() {
        for algorithm in [
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::RS256,
            Algorithm::ES256,
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
        }
    }
}
