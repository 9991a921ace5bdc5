//! JWT access and refresh tokens: signed with the current key of the configured algorithm
//! (HS256 or ES256, with its `kid`), verified with the key the token's `kid` names.

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use super::keys::KeyRing;
use crate::clock::now_unix;
use crate::ids::is_id;

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

    /// The header's `typ` when an audience is configured (RFC 8725 §3.11): access tokens are
    /// RFC 9068's `at+jwt`, refresh tokens a type no access-token verifier expects. A consumer
    /// that checks `typ` refuses a refresh token even if it ignores `aud`.
    pub fn explicit_type(self) -> &'static str {
        match self {
            TokenKind::Access => ACCESS_TOKEN_TYPE,
            TokenKind::Refresh => REFRESH_TOKEN_TYPE,
        }
    }
}

/// The `typ` of access tokens when an audience is configured (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The `typ` of refresh tokens when an audience is configured: only the account API reads them.
pub const REFRESH_TOKEN_TYPE: &str = "refresh+jwt";
/// The `typ` of both kinds without an audience: the tutorial's header.
pub const PLAIN_TOKEN_TYPE: &str = "JWT";

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
    /// `JWT_ISSUER`, when set: the issuer other services trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `JWT_AUDIENCE`, when set: on access tokens only, so that no verifier configured with
    /// the audience (an API Gateway JWT authorizer, PyJWT, jose) accepts a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
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

/// The keys and rules for tokens, built once per cold start; the keys are replaced when a
/// re-read finds new ones (`super::source`).
pub struct TokenKeys {
    ring: RwLock<Arc<KeyRing>>,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    pub access_lifetime: i64,
    pub refresh_lifetime: i64,
    /// `MAX_SESSION_SECONDS`: a session's longest life from its login.
    pub max_session: i64,
}

/// The JOSE header of our tokens, in this order.
#[derive(Serialize)]
struct OurHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// The rules of this deployment's tokens, from its configuration (`crate::config`).
#[derive(Clone)]
pub struct TokenSettings {
    /// The keys read at cold start.
    pub ring: Arc<KeyRing>,
    /// `JWT_ISSUER`, when set.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`, when set: access tokens carry it.
    pub audience: Option<String>,
    /// `JWT_LEEWAY_SECONDS`.
    pub leeway: u64,
    pub access_lifetime: i64,
    pub refresh_lifetime: i64,
    /// `MAX_SESSION_SECONDS`.
    pub max_session: i64,
}

impl TokenKeys {
    pub fn new(settings: TokenSettings) -> Self {
        super::jws::install();
        // Pinned to the one algorithm of this deployment: a token naming another is invalid
        // whatever its key, and each key verifies only its own algorithm (`super::jws`).
        let mut validation = Validation::new(settings.ring.algorithm.jose());
        validation.leeway = settings.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        let mut required = vec!["exp"];
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        // The audience belongs to access tokens alone: it is checked once the kind is known.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&required);
        TokenKeys {
            ring: RwLock::new(settings.ring),
            validation,
            issuer: settings.issuer,
            audience: settings.audience,
            access_lifetime: settings.access_lifetime,
            refresh_lifetime: settings.refresh_lifetime,
            max_session: settings.max_session,
        }
    }

    /// The keys in force (a cheap clone of a pointer: a request keeps the keys it started with).
    pub fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            // A writer never panics while holding the lock (it only swaps a pointer).
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts keys read again in force, if they are of this deployment's algorithm.
    pub fn replace(&self, ring: KeyRing) {
        if ring.algorithm != self.ring().algorithm {
            return;
        }
        let ring = Arc::new(ring);
        match self.ring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    fn lifetime(&self, kind: TokenKind) -> i64 {
        match kind {
            TokenKind::Access => self.access_lifetime,
            TokenKind::Refresh => self.refresh_lifetime,
        }
    }

    /// When a session started at `started_at` ends at the latest, however often it is refreshed.
    pub fn session_end(&self, started_at: i64) -> i64 {
        started_at.saturating_add(self.max_session)
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
        self.issue_until(kind, user_id, session_id, jti, now, i64::MAX)
    }

    /// [`TokenKeys::issue`] for a session that ends at `session_end`: the token expires then at
    /// the latest, so that nothing of the session outlives it (`MAX_SESSION_SECONDS`).
    pub fn issue_until(
        &self,
        kind: TokenKind,
        user_id: u64,
        session_id: &str,
        jti: String,
        now: i64,
        session_end: i64,
    ) -> Result<Issued, SigningFailed> {
        let claims = Claims {
            token_type: kind.claim().to_owned(),
            exp: now.saturating_add(self.lifetime(kind)).min(session_end),
            iat: now,
            jti,
            user_id: user_id.to_string(),
            sid: session_id.to_owned(),
            iss: self.issuer.clone(),
            aud: match kind {
                TokenKind::Access => self.audience.clone(),
                TokenKind::Refresh => None,
            },
        };
        let ring = self.ring();
        let header = OurHeader {
            alg: ring.algorithm.name(),
            typ: self.header_type(kind),
            kid: &ring.signing_kid,
        };
        let header = serde_json::to_vec(&header).map_err(|_| SigningFailed)?;
        let payload = serde_json::to_vec(&claims).map_err(|_| SigningFailed)?;
        let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        // A verify-only function holds no private key: asking it to sign is a bug, answered 500.
        let signing = ring.signing.as_ref().ok_or(SigningFailed)?;
        let signature = signing.sign(message.as_bytes()).map_err(|_| SigningFailed)?;
        Ok(Issued {
            token: format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)),
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }

    /// The `typ` this deployment gives tokens of `kind`: explicit types once an audience is
    /// configured (other services verify access tokens then), the tutorial's `JWT` otherwise.
    fn header_type(&self, kind: TokenKind) -> &'static str {
        match self.audience {
            Some(_) => kind.explicit_type(),
            None => PLAIN_TOKEN_TYPE,
        }
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
        let header = decode_header(token).map_err(|_| TokenFault::Invalid)?;
        // A token may not tell us where to find its key (RFC 8725 §3.10) nor ask for
        // extensions we do not implement: such a header is refused whatever its signature.
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some()
        {
            return Err(TokenFault::Invalid);
        }
        // The key its `kid` names, only among the keys we hold; no `kid`, no key.
        let ring = self.ring();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| ring.key(kid))
            .ok_or(TokenFault::Invalid)?;
        let claims = decode::<Claims>(token, &key.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenFault::Expired,
                _ => TokenFault::Invalid,
            })?
            .claims;
        let kind = [TokenKind::Access, TokenKind::Refresh]
            .into_iter()
            .find(|kind| claims.token_type == kind.claim())
            .ok_or(TokenFault::Invalid)?;
        // The header's type agrees with the claim: the kind's own type, or the tutorial's `JWT`
        // (every token minted without an audience, and those minted before types were explicit).
        let typ = header.typ.as_deref().unwrap_or(PLAIN_TOKEN_TYPE);
        if typ != PLAIN_TOKEN_TYPE && typ != kind.explicit_type() {
            return Err(TokenFault::Invalid);
        }
        // An access token names the configured audience exactly as other services require it.
        if let (TokenKind::Access, Some(audience)) = (kind, &self.audience)
            && claims.aud.as_deref() != Some(audience.as_str())
        {
            return Err(TokenFault::Invalid);
        }
        if expected.is_some_and(|expected| expected != kind) {
            return Err(TokenFault::WrongType);
        }
        // We never issue a token dated in the future: one that is can only be forged or minted
        // by a clock gone wrong. A minute of slack covers instances whose clocks differ by
        // the second boundary (`iat` has whole seconds).
        if claims.iat > now_unix() + FUTURE_IAT_SLACK_SECONDS + self.validation.leeway as i64 {
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
    use crate::config::Config;
    use crate::ids::random_id;
    use base64::Engine;

    fn keys_with(key: &str) -> TokenKeys {
        let config = Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| key.to_owned())).unwrap();
        config.token_keys()
    }

    const ISSUER: &str = "https://api.example.com/account";

    fn token_keys(config: Config) -> TokenKeys {
        config.token_keys()
    }

    fn config_with(pairs: &[(&str, &str)]) -> Config {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
    }

    fn es256_keys(current: &str, previous: Option<&str>) -> TokenKeys {
        let mut pairs = vec![
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SIGNING_KEY", current),
            ("JWT_ISSUER", ISSUER),
        ];
        if let Some(previous) = previous {
            pairs.push(("JWT_PREVIOUS_SIGNING_KEY", previous));
        }
        token_keys(config_with(&pairs))
    }

    fn ring_of(current: &str, previous: Option<&str>) -> KeyRing {
        let material = crate::tokens::keys::KeyMaterial {
            current: secrecy::SecretString::from(current.to_owned()),
            previous: previous.map(|key| secrecy::SecretString::from(key.to_owned())),
        };
        KeyRing::build(crate::tokens::keys::JwtAlgorithm::Es256, &material).unwrap()
    }

    fn part(token: &str, index: usize) -> serde_json::Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    /// `header.payload` of our own claims signed with `key` under any header.
    fn signed_with(
        key: &crate::tokens::jws::SigningKey,
        header: serde_json::Value,
        payload: &serde_json::Value,
    ) -> String {
        let b64 =
            |value: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
        let message = format!("{}.{}", b64(&header), b64(payload));
        let signature = key.sign(message.as_bytes()).unwrap();
        format!(
            "{message}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn es256_tokens_carry_kid_and_iss_and_verify() {
        let pem = crate::tokens::keys::new_es256_pem().unwrap();
        let keys = es256_keys(&pem, None);
        let sid = random_id();
        let issued = keys.issue(TokenKind::Access, 42, &sid, random_id(), now()).unwrap();
        let header = part(&issued.token, 0);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], keys.ring().signing_kid.as_str());
        assert_eq!(part(&issued.token, 1)["iss"], ISSUER);
        assert_eq!(keys.verify(&issued.token, TokenKind::Access).unwrap().user_id, 42);
        // Another deployment's ES256 key, even under our kid, is invalid.
        let foreign = es256_keys(&crate::tokens::keys::new_es256_pem().unwrap(), None);
        let forged = signed_with(
            foreign.ring().signing.as_ref().unwrap(),
            header.clone(),
            &part(&issued.token, 1),
        );
        assert_eq!(keys.verify(&forged, TokenKind::Access), Err(TokenFault::Invalid));
    }

    #[test]
    fn tokens_of_the_previous_key_verify_until_it_is_dropped() {
        let (old, new) = (
            crate::tokens::keys::new_es256_pem().unwrap(),
            crate::tokens::keys::new_es256_pem().unwrap(),
        );
        let before = es256_keys(&old, None);
        let sid = random_id();
        let minted_before = before.issue(TokenKind::Refresh, 7, &sid, random_id(), now()).unwrap();
        before.replace(ring_of(&new, Some(&old)));
        assert!(
            before.verify(&minted_before.token, TokenKind::Refresh).is_ok(),
            "the previous key still verifies"
        );
        let minted_after = before.issue(TokenKind::Refresh, 7, &sid, random_id(), now()).unwrap();
        assert_ne!(
            part(&minted_after.token, 0)["kid"],
            part(&minted_before.token, 0)["kid"]
        );
        let newest = crate::tokens::keys::new_es256_pem().unwrap();
        before.replace(ring_of(&newest, Some(&new)));
        assert_eq!(
            before.verify(&minted_before.token, TokenKind::Refresh),
            Err(TokenFault::Invalid)
        );
        assert!(before.verify(&minted_after.token, TokenKind::Refresh).is_ok());
    }

    #[test]
    fn alg_and_kid_confusion_is_refused() {
        let pem = crate::tokens::keys::new_es256_pem().unwrap();
        let keys = es256_keys(&pem, None);
        let genuine = keys
            .issue(TokenKind::Access, 7, &random_id(), random_id(), now())
            .unwrap()
            .token;
        let (header, payload) = (part(&genuine, 0), part(&genuine, 1));
        let ring = keys.ring();
        let kid = ring.signing_kid.clone();
        let point = ring.signing.as_ref().unwrap().public_point().unwrap().to_vec();
        let jwk = ring.held[0].public_jwk.clone().unwrap();
        let mut forged = Vec::new();
        // HS256 under the public key's bytes, in every form a verifier might take them.
        for secret in [point.clone(), jwk.to_string().into_bytes(), kid.clone().into_bytes()] {
            let hmac = crate::tokens::jws::SigningKey::hs256(&secret);
            forged.push(signed_with(
                &hmac,
                serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &payload,
            ));
        }
        // Our own key and claims, with a header that is not ours.
        let ours = ring.signing.as_ref().unwrap();
        for extra in [
            serde_json::json!({"kid": "not-a-key-we-hold"}),
            serde_json::json!({"kid": null}),
            serde_json::json!({"jwk": jwk}),
            serde_json::json!({"jku": "https://attacker.example/jwks.json"}),
            serde_json::json!({"x5u": "https://attacker.example/cert.pem"}),
            serde_json::json!({"crit": ["exp"]}),
        ] {
            let mut header = header.clone();
            for (field, value) in extra.as_object().unwrap() {
                if value.is_null() {
                    header.as_object_mut().unwrap().remove(field);
                } else {
                    header[field] = value.clone();
                }
            }
            forged.push(signed_with(ours, header, &payload));
        }
        // An attacker's key, announced in the header, with our kid.
        let attacker = es256_keys(&crate::tokens::keys::new_es256_pem().unwrap(), None);
        let attacker_jwk = attacker.ring().held[0].public_jwk.clone().unwrap();
        forged.push(signed_with(
            attacker.ring().signing.as_ref().unwrap(),
            serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid, "jwk": attacker_jwk}),
            &payload,
        ));
        for token in &forged {
            assert_eq!(
                keys.verify(token, TokenKind::Access),
                Err(TokenFault::Invalid),
                "{}",
                part(token, 0)
            );
        }
        // And an HS256 deployment refuses a genuine ES256 token, and the other way round.
        let hs = keys_with("test-signing-key-test-signing-key-0123");
        assert_eq!(hs.verify(&genuine, TokenKind::Access), Err(TokenFault::Invalid));
        let hs_token = hs
            .issue(TokenKind::Access, 7, &random_id(), random_id(), now())
            .unwrap()
            .token;
        assert_eq!(keys.verify(&hs_token, TokenKind::Access), Err(TokenFault::Invalid));
    }

    #[test]
    fn issuer_and_audience_are_required_when_configured() {
        let pem = crate::tokens::keys::new_es256_pem().unwrap();
        let with_audience = token_keys(config_with(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SIGNING_KEY", &pem),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", "orders-api"),
        ]));
        let other_issuer = token_keys(config_with(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SIGNING_KEY", &pem),
            ("JWT_ISSUER", "https://elsewhere.example.com/account"),
        ]));
        let plain = es256_keys(&pem, None);
        let sid = random_id();
        let token = with_audience
            .issue(TokenKind::Access, 7, &sid, random_id(), now())
            .unwrap()
            .token;
        assert_eq!(part(&token, 1)["aud"], "orders-api");
        assert!(with_audience.verify(&token, TokenKind::Access).is_ok());
        let without_audience = plain
            .issue(TokenKind::Access, 7, &sid, random_id(), now())
            .unwrap()
            .token;
        assert_eq!(
            with_audience.verify(&without_audience, TokenKind::Access),
            Err(TokenFault::Invalid)
        );
        assert_eq!(
            other_issuer.verify(&without_audience, TokenKind::Access),
            Err(TokenFault::Invalid)
        );
    }

    /// RFC 8725 §3.11–3.12: with an audience configured, no verifier that checks `aud` or `typ`
    /// can take a refresh token for an access token.
    #[test]
    fn with_an_audience_only_access_tokens_carry_it_and_the_kinds_differ_in_typ() {
        let pem = crate::tokens::keys::new_es256_pem().unwrap();
        let keys = token_keys(config_with(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SIGNING_KEY", &pem),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", "orders-api"),
        ]));
        let sid = random_id();
        let access = keys
            .issue(TokenKind::Access, 7, &sid, random_id(), now())
            .unwrap()
            .token;
        let refresh = keys
            .issue(TokenKind::Refresh, 7, &sid, random_id(), now())
            .unwrap()
            .token;
        assert_eq!(part(&access, 0)["typ"], ACCESS_TOKEN_TYPE);
        assert_eq!(part(&access, 1)["aud"], "orders-api");
        assert_eq!(part(&refresh, 0)["typ"], REFRESH_TOKEN_TYPE);
        assert!(part(&refresh, 1).get("aud").is_none(), "{}", part(&refresh, 1));
        assert_eq!(part(&refresh, 1)["iss"], ISSUER);
        assert!(keys.verify(&access, TokenKind::Access).is_ok());
        assert!(keys.verify(&refresh, TokenKind::Refresh).is_ok());
        assert_eq!(keys.verify(&refresh, TokenKind::Access), Err(TokenFault::WrongType));
        // A header whose type contradicts the claim is not ours, even under our signature.
        let ring = keys.ring();
        let mut header = part(&refresh, 0);
        header["typ"] = ACCESS_TOKEN_TYPE.into();
        let relabelled = signed_with(ring.signing.as_ref().unwrap(), header, &part(&refresh, 1));
        assert_eq!(keys.verify_any(&relabelled), Err(TokenFault::Invalid));
        // An access token without the audience (or with another) is refused.
        let mut claims = part(&access, 1);
        claims["aud"] = "another-api".into();
        let elsewhere = signed_with(ring.signing.as_ref().unwrap(), part(&access, 0), &claims);
        assert_eq!(keys.verify(&elsewhere, TokenKind::Access), Err(TokenFault::Invalid));
        // Without an audience both kinds keep the tutorial's header.
        let plain = es256_keys(&pem, None);
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            let token = plain.issue(kind, 7, &sid, random_id(), now()).unwrap().token;
            assert_eq!(part(&token, 0)["typ"], PLAIN_TOKEN_TYPE);
            assert!(part(&token, 1).get("aud").is_none());
        }
    }

    /// A function that only verifies ES256 tokens is configured with the published keys alone:
    /// it verifies what the signers sign, and signs nothing itself.
    #[test]
    fn a_verifier_of_the_published_keys_verifies_and_cannot_issue() {
        let pem = crate::tokens::keys::new_es256_pem().unwrap();
        let signer = es256_keys(&pem, None);
        let published = signer.ring().jwks().unwrap().to_string();
        let verifier = token_keys(config_with(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PUBLIC_KEYS", &published),
            ("JWT_ISSUER", ISSUER),
        ]));
        let sid = random_id();
        let token = signer
            .issue(TokenKind::Access, 7, &sid, random_id(), now())
            .unwrap()
            .token;
        assert_eq!(verifier.verify(&token, TokenKind::Access).unwrap().user_id, 7);
        assert!(verifier.issue(TokenKind::Access, 7, &sid, random_id(), now()).is_err());
        // The public keys configure nothing under HS256, whose verifying key is the secret.
        let hs256 = Config::from_lookup(|name| (name == "JWT_PUBLIC_KEYS").then(|| published.clone()));
        assert!(matches!(
            hs256,
            Err(crate::config::ConfigError::Missing("JWT_SIGNING_KEY"))
        ));
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
        let kid = keys.ring().signing_kid.clone();
        assert_eq!(header, serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
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
