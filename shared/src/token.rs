//! JWT access and refresh tokens: issued and verified with one HS256 key built at cold start.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn claim(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// The claims of both token kinds: simplejwt's five, plus `sid`, the session the token
/// belongs to, so revocation can be checked with one read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub user_id: String,
    pub sid: String,
}

/// A verified token's claims, with the user id already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: u64,
    pub session_id: String,
    pub jti: String,
    pub expires_at: i64,
}

/// Why a token was refused, before any store lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    Invalid,
    Expired,
    WrongType,
}

/// A freshly signed token.
#[derive(Clone)]
pub struct Issued {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"[redacted]")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Signing failed: only a broken key or crypto backend can cause it (answered 500).
#[derive(Debug, thiserror::Error)]
#[error("token signing failed")]
pub struct SigningFailed;

/// How far in the future a token's `iat` may lie (clock differences between instances).
const FUTURE_IAT_SLACK_SECONDS: i64 = 60;

/// The keys and rules for tokens, built once per cold start.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_lifetime: i64,
    pub refresh_lifetime: i64,
}

/// A random 128-bit id as 32 lowercase hex digits (token ids, session ids).
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `text` is an id as [`random_id`] makes them (a session id in a path, say).
pub fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl TokenKeys {
    pub fn new(config: &Config) -> Self {
        crate::hs256::install();
        let key = config.signing_key_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.jwt_leeway;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            access_lifetime: config.access_token_lifetime,
            refresh_lifetime: config.refresh_token_lifetime,
        }
    }

    fn lifetime(&self, kind: TokenKind) -> i64 {
        match kind {
            TokenKind::Access => self.access_lifetime,
            TokenKind::Refresh => self.refresh_lifetime,
        }
    }

    /// Signs a token of `kind` with id `jti` for the user's session, issued at `now` (Unix
    /// seconds). Refresh tokens get the id their session recorded; access tokens a fresh one.
    pub fn issue(
        &self,
        kind: TokenKind,
        user_id: u64,
        session_id: &str,
        jti: String,
        now: i64,
    ) -> Result<Issued, SigningFailed> {
        let claims = Claims {
            token_type: kind.claim().to_owned(),
            exp: now + self.lifetime(kind),
            iat: now,
            jti,
            user_id: user_id.to_string(),
            sid: session_id.to_owned(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| SigningFailed)?;
        Ok(Issued {
            token,
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }

    /// Checks signature, algorithm, expiry, claims and kind — in simplejwt's order: a bad
    /// signature is invalid even if expired; an expired token is expired whatever its kind.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Verified, TokenFault> {
        self.check(token, Some(expected)).map(|(_, verified)| verified)
    }

    /// The same checks for a token of either kind (token/verify), and which kind it is. A
    /// `token_type` other than ours is invalid: we never issue one.
    pub fn verify_any(&self, token: &str) -> Result<(TokenKind, Verified), TokenFault> {
        self.check(token, None)
    }

    fn check(&self, token: &str, expected: Option<TokenKind>) -> Result<(TokenKind, Verified), TokenFault> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenFault::Expired,
                _ => TokenFault::Invalid,
            })?
            .claims;
        let kind = [TokenKind::Access, TokenKind::Refresh]
            .into_iter()
            .find(|kind| claims.token_type == kind.claim())
            .ok_or(TokenFault::Invalid)?;
        if expected.is_some_and(|expected| expected != kind) {
            return Err(TokenFault::WrongType);
        }
        // We never issue a token dated in the future: one that is can only be forged or minted
        // by a clock gone wrong. A minute of slack covers instances whose clocks differ by
        // the second boundary (`iat` has whole seconds).
        if claims.iat > crate::now_unix() + FUTURE_IAT_SLACK_SECONDS + self.validation.leeway as i64 {
            return Err(TokenFault::Invalid);
        }
        let user_id = claims.user_id.parse::<u64>().map_err(|_| TokenFault::Invalid)?;
        if !is_id(&claims.jti) || !is_id(&claims.sid) {
            return Err(TokenFault::Invalid);
        }
        let verified = Verified {
            user_id,
            session_id: claims.sid,
            jti: claims.jti,
            expires_at: claims.exp,
        };
        Ok((kind, verified))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys_with(key: &str) -> TokenKeys {
        let config = Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| key.to_owned())).unwrap();
        TokenKeys::new(&config)
    }

    fn keys() -> TokenKeys {
        keys_with("test-signing-key-test-signing-key-0123")
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let keys = keys();
        let sid = random_id();
        let issued = keys.issue(TokenKind::Access, 42, &sid, random_id(), now()).unwrap();
        let verified = keys.verify(&issued.token, TokenKind::Access).unwrap();
        assert_eq!(verified.user_id, 42);
        assert_eq!(verified.session_id, sid);
        assert_eq!(verified.jti, issued.jti);
        let header = issued.token.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": "HS256"}));
        let payload = issued.token.split('.').nth(1).unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(payload["user_id"], "42", "user_id is a string claim");
        assert_eq!(payload["token_type"], "access");
    }

    #[test]
    fn a_token_issued_in_the_future_is_invalid() {
        let keys = keys();
        let sid = random_id();
        let ahead = keys
            .issue(TokenKind::Access, 7, &sid, random_id(), now() + 600)
            .unwrap();
        assert_eq!(keys.verify(&ahead.token, TokenKind::Access), Err(TokenFault::Invalid));
        let skewed = keys.issue(TokenKind::Access, 7, &sid, random_id(), now() + 5).unwrap();
        assert!(
            keys.verify(&skewed.token, TokenKind::Access).is_ok(),
            "a few seconds of skew pass"
        );
    }

    #[test]
    fn kind_expiry_and_key_are_enforced() {
        let keys = keys();
        let sid = random_id();
        let refresh = keys.issue(TokenKind::Refresh, 7, &sid, random_id(), now()).unwrap();
        assert_eq!(
            keys.verify(&refresh.token, TokenKind::Access),
            Err(TokenFault::WrongType)
        );
        let old = keys
            .issue(TokenKind::Access, 7, &sid, random_id(), now() - 7200)
            .unwrap();
        assert_eq!(keys.verify(&old.token, TokenKind::Access), Err(TokenFault::Expired));
        let foreign = keys_with("another-deployment-key-0123456789abcdef")
            .issue(TokenKind::Access, 7, &sid, random_id(), now())
            .unwrap();
        assert_eq!(keys.verify(&foreign.token, TokenKind::Access), Err(TokenFault::Invalid));
        assert_eq!(keys.verify("garbage", TokenKind::Access), Err(TokenFault::Invalid));
    }

    #[test]
    fn either_kind_verifies_and_says_which_it_is() {
        let keys = keys();
        let sid = random_id();
        let access = keys.issue(TokenKind::Access, 7, &sid, random_id(), now()).unwrap();
        let refresh = keys.issue(TokenKind::Refresh, 7, &sid, random_id(), now()).unwrap();
        let (kind, verified) = keys.verify_any(&access.token).unwrap();
        assert_eq!((kind, verified.jti), (TokenKind::Access, access.jti));
        let (kind, verified) = keys.verify_any(&refresh.token).unwrap();
        assert_eq!((kind, verified.jti), (TokenKind::Refresh, refresh.jti));
        let old = keys
            .issue(TokenKind::Refresh, 7, &sid, random_id(), now() - 200_000)
            .unwrap();
        assert_eq!(keys.verify_any(&old.token), Err(TokenFault::Expired));
        let foreign = keys_with("another-deployment-key-0123456789abcdef")
            .issue(TokenKind::Access, 7, &sid, random_id(), now())
            .unwrap();
        assert_eq!(keys.verify_any(&foreign.token), Err(TokenFault::Invalid));
        assert_eq!(keys.verify_any("garbage"), Err(TokenFault::Invalid));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let keys = keys();
        let issued = keys
            .issue(TokenKind::Access, 7, &random_id(), random_id(), now())
            .unwrap();
        let mut parts = issued.token.split('.');
        let (_, payload) = (parts.next(), parts.next().unwrap());
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for forged in [format!("{none_header}.{payload}."), format!("{none_header}.{payload}")] {
            assert_eq!(keys.verify(&forged, TokenKind::Access), Err(TokenFault::Invalid));
        }
    }
}
