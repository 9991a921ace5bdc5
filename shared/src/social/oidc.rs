//! OpenID Connect as a relying party: a provider's discovery document and published keys
//! (cached across warm invocations, fetched again for an unknown `kid`), and the ID token's
//! checks — RS256 or ES256 only, with ring (the crypto TLS already links), exact `iss`, our
//! client id in `aud` (and `azp` when there are several), `exp` and `iat` with a minute of
//! leeway, and the `nonce` when one was sent. No OIDC crate: these checks are the whole of what
//! a relying party of the code flow needs, and the crates that do more pull an RSA crate with an
//! open advisory (RUSTSEC-2023-0071) into a binary that only verifies.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::fetch::{self, ProviderError};
use super::settings::is_allowed_url;

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// How long a discovery document is trusted before it is read again.
const DISCOVERY_SECONDS: i64 = 24 * 3600;
/// How long a `kid` the provider's keys lacked stays unknown without another read: a rotation
/// makes us read them again at once (the first token signed with a new key), but a flood of
/// tokens naming one forged `kid` makes one read a minute.
const UNKNOWN_KID_SECONDS: i64 = 60;

/// What we use of a discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Default)]
struct Cached {
    discovery: Option<(Discovery, i64)>,
    keys: Vec<Jwk>,
    /// `kid`s looked for and not found in a read of the keys, and when.
    unknown_kids: HashMap<String, i64>,
}

/// Per issuer, for the life of the process (a warm function reuses it).
static CACHE: LazyLock<Mutex<HashMap<String, Cached>>> = LazyLock::new(Default::default);

/// The provider's discovery document (cached), whose `issuer` must be the configured one.
pub async fn discovery(issuer: &str, now: i64) -> Result<Discovery, ProviderError> {
    let mut cache = CACHE.lock().await;
    let entry = cache.entry(issuer.to_owned()).or_default();
    if let Some((document, read_at)) = &entry.discovery
        && now - read_at < DISCOVERY_SECONDS
    {
        return Ok(document.clone());
    }
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let answer = fetch::get_json(&url, None).await?;
    let document: Discovery = match answer.status {
        200 => serde_json::from_value(answer.body)
            .map_err(|_| ProviderError::Unavailable("malformed discovery document".into()))?,
        status => return Err(ProviderError::Unavailable(format!("discovery answered {status}"))),
    };
    // OpenID Connect Discovery 1.0 §4.3: the document's issuer is exactly the one asked.
    if document.issuer != issuer {
        return Err(ProviderError::Unavailable("discovery names another issuer".into()));
    }
    // The endpoints it names carry codes, secrets and keys: HTTPS only, as the configured ones.
    let endpoints = [
        Some(&document.token_endpoint),
        Some(&document.jwks_uri),
        document.userinfo_endpoint.as_ref(),
    ];
    if !endpoints.into_iter().flatten().all(|url| is_allowed_url(url)) {
        return Err(ProviderError::Unavailable(
            "discovery names an endpoint over plain HTTP".into(),
        ));
    }
    entry.discovery = Some((document.clone(), now));
    Ok(document)
}

/// The provider's keys, read again when `kid` is not among the cached ones (a rotation).
async fn keys_for(issuer: &str, jwks_uri: &str, kid: Option<&str>, now: i64) -> Result<Vec<Jwk>, ProviderError> {
    let mut cache = CACHE.lock().await;
    let entry = cache.entry(issuer.to_owned()).or_default();
    let known = |keys: &[Jwk]| kid.is_none_or(|kid| keys.iter().any(|key| key.kid.as_deref() == Some(kid)));
    entry.unknown_kids.retain(|_, at| now - *at < UNKNOWN_KID_SECONDS);
    let looked_for = kid.is_some_and(|kid| entry.unknown_kids.contains_key(kid));
    if entry.keys.is_empty() || !known(&entry.keys) && !looked_for {
        let answer = fetch::get_json(jwks_uri, None).await?;
        let keys = match (answer.status, answer.body.get("keys")) {
            (200, Some(Value::Array(keys))) => keys
                .iter()
                .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
                .collect(),
            _ => return Err(ProviderError::Unavailable("malformed JWKS".into())),
        };
        entry.keys = keys;
        // Bounded: past this many forged `kid`s a minute, each is simply refused (no read).
        if let Some(kid) = kid.filter(|_| !known(&entry.keys) && entry.unknown_kids.len() < 64) {
            entry.unknown_kids.insert(kid.to_owned(), now);
        }
    }
    Ok(entry.keys.clone())
}

/// What the checks of an ID token may refuse (logged by kind; the client sees one answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("not a JWS")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("no published key matches")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer")]
    Issuer,
    #[error("not issued to us")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
    #[error("nonce mismatch")]
    Nonce,
}

/// Why an ID token gave no identity.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("ID token refused: {0}")]
    Rejected(Rejected),
}

/// The claims of a verified ID token.
#[derive(Debug, Clone)]
pub struct IdClaims {
    pub sub: String,
    pub exp: i64,
    pub claims: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Verifies `token` as an ID token `issuer` issued to `client_id`, fetching the provider's keys
/// as needed. `issuers` lists the accepted spellings of `iss` (Google documents two).
pub async fn verify_id_token(
    token: &str,
    discovery: &Discovery,
    issuers: &[&str],
    client_id: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<IdClaims, IdTokenError> {
    let rejected = IdTokenError::Rejected;
    let header = header_of(token).ok_or(rejected(Rejected::Malformed))?;
    let header: Header = serde_json::from_slice(&header).map_err(|_| rejected(Rejected::Malformed))?;
    let kty = match header.alg.as_str() {
        "RS256" => "RSA",
        "ES256" => "EC",
        _ => return Err(rejected(Rejected::Algorithm)),
    };
    let keys = keys_for(&discovery.issuer, &discovery.jwks_uri, header.kid.as_deref(), now).await?;
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|key| key.kty == kty)
        .filter(|key| key.key_use.as_deref().is_none_or(|key_use| key_use == "sig"))
        .filter(|key| key.alg.as_deref().is_none_or(|alg| alg == header.alg))
        .filter(|key| header.kid.is_none() || key.kid == header.kid)
        .collect();
    // Without a `kid` only a provider with one key of the kind can be matched.
    let key = match candidates.as_slice() {
        [key] => *key,
        _ => return Err(rejected(Rejected::UnknownKey)),
    };
    let claims = check_signature(token, key).map_err(rejected)?;
    check_claims(claims, issuers, client_id, nonce, now).map_err(rejected)
}

/// The decoded header of a compact JWS of exactly three parts.
fn header_of(token: &str) -> Option<Vec<u8>> {
    let mut parts = token.split('.');
    let header = parts.next()?;
    let (Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    URL_SAFE_NO_PAD.decode(header).ok()
}

fn check_signature(token: &str, key: &Jwk) -> Result<serde_json::Map<String, Value>, Rejected> {
    let (signed, signature) = token.rsplit_once('.').ok_or(Rejected::Malformed)?;
    let payload = signed
        .split_once('.')
        .map(|(_, payload)| payload)
        .ok_or(Rejected::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Rejected::Malformed)?;
    let decode = |part: &Option<String>| {
        part.as_deref()
            .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
            .ok_or(Rejected::UnknownKey)
    };
    let verified = match key.kty.as_str() {
        "RSA" => {
            let (n, e) = (decode(&key.n)?, decode(&key.e)?);
            RsaPublicKeyComponents { n: &n, e: &e }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &signature,
            )
        }
        "EC" if key.crv.as_deref() == Some("P-256") => {
            let mut point = vec![0x04];
            point.extend(decode(&key.x)?);
            point.extend(decode(&key.y)?);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(signed.as_bytes(), &signature)
        }
        _ => return Err(Rejected::UnknownKey),
    };
    verified.map_err(|_| Rejected::Signature)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Rejected::Malformed)?;
    match serde_json::from_slice(&payload) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(Rejected::Malformed),
    }
}

fn check_claims(
    claims: serde_json::Map<String, Value>,
    issuers: &[&str],
    client_id: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<IdClaims, Rejected> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if !text("iss").is_some_and(|iss| issuers.contains(&iss)) {
        return Err(Rejected::Issuer);
    }
    // OpenID Connect Core 1.0 §3.1.3.7: our client id among the audiences; with several, the
    // authorized party must be us.
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) {
        return Err(Rejected::Audience);
    }
    if let Some(azp) = text("azp")
        && (audiences.len() > 1 && azp != client_id)
    {
        return Err(Rejected::Audience);
    }
    let exp = number("exp").ok_or(Rejected::Malformed)?;
    if exp + LEEWAY_SECONDS <= now {
        return Err(Rejected::Expired);
    }
    let iat = number("iat").ok_or(Rejected::Malformed)?;
    if iat > now + LEEWAY_SECONDS {
        return Err(Rejected::NotYetValid);
    }
    if let Some(nonce) = nonce
        && text("nonce") != Some(nonce)
    {
        return Err(Rejected::Nonce);
    }
    let sub = text("sub")
        .filter(|sub| !sub.is_empty() && sub.len() <= 255)
        .ok_or(Rejected::Malformed)?
        .to_owned();
    Ok(IdClaims { sub, exp, claims })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn key_pair() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, document.as_ref(), &rng).unwrap()
    }

    fn jwk(pair: &EcdsaKeyPair, kid: &str) -> Jwk {
        let point = pair.public_key().as_ref();
        Jwk {
            kty: "EC".into(),
            kid: Some(kid.into()),
            alg: Some("ES256".into()),
            key_use: Some("sig".into()),
            n: None,
            e: None,
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&point[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&point[33..])),
        }
    }

    fn signed(pair: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn claims() -> Value {
        json!({"iss": "https://idp.example", "aud": "us", "sub": "42", "exp": NOW + 300, "iat": NOW, "nonce": "n1"})
    }

    fn checked(token: &str, key: &Jwk, nonce: Option<&str>) -> Result<IdClaims, Rejected> {
        let claims = check_signature(token, key)?;
        check_claims(claims, &["https://idp.example"], "us", nonce, NOW)
    }

    #[test]
    fn a_sound_token_passes_and_every_broken_claim_is_refused() {
        let pair = key_pair();
        let key = jwk(&pair, "k1");
        let header = json!({"alg": "ES256", "kid": "k1"});
        let token = signed(&pair, header.clone(), claims());
        assert_eq!(checked(&token, &key, Some("n1")).unwrap().sub, "42");
        assert_eq!(checked(&token, &key, None).unwrap().exp, NOW + 300);

        let with = |change: Value| {
            let mut claims = claims();
            for (name, value) in change.as_object().unwrap() {
                claims[name] = value.clone();
            }
            signed(&pair, header.clone(), claims)
        };
        let cases = [
            (json!({"iss": "https://evil.example"}), Rejected::Issuer),
            (json!({"aud": "another-app"}), Rejected::Audience),
            (
                json!({"aud": ["another-app", "us"], "azp": "another-app"}),
                Rejected::Audience,
            ),
            (json!({"exp": NOW - LEEWAY_SECONDS}), Rejected::Expired),
            (json!({"iat": NOW + LEEWAY_SECONDS + 1}), Rejected::NotYetValid),
            (json!({"nonce": "n2"}), Rejected::Nonce),
            (json!({"sub": ""}), Rejected::Malformed),
        ];
        for (change, expected) in cases {
            assert_eq!(
                checked(&with(change.clone()), &key, Some("n1")).unwrap_err(),
                expected,
                "{change}"
            );
        }
        // Within the leeway, several audiences with us as the authorized party: accepted.
        assert!(checked(&with(json!({"exp": NOW - LEEWAY_SECONDS + 1})), &key, None).is_ok());
        assert!(checked(&with(json!({"aud": ["us", "other"], "azp": "us"})), &key, None).is_ok());
    }

    #[test]
    fn a_signature_by_another_key_or_a_tampered_payload_is_refused() {
        let pair = key_pair();
        let other = key_pair();
        let token = signed(&other, json!({"alg": "ES256", "kid": "k1"}), claims());
        assert_eq!(
            checked(&token, &jwk(&pair, "k1"), None).unwrap_err(),
            Rejected::Signature
        );

        let token = signed(&pair, json!({"alg": "ES256", "kid": "k1"}), claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged["sub"] = json!("1");
        parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(
            checked(&parts.join("."), &jwk(&pair, "k1"), None).unwrap_err(),
            Rejected::Signature
        );
    }

    #[tokio::test]
    async fn a_discovery_document_naming_plain_http_endpoints_or_another_issuer_is_refused() {
        for (jwks, issuer_of_document) in [
            ("http://10.0.0.1/jwks", None),
            ("https://idp.example/jwks", Some("https://evil.example")),
        ] {
            let placeholder = "ISSUER";
            let document = json!({
                "issuer": issuer_of_document.unwrap_or(placeholder),
                "token_endpoint": "https://idp.example/token",
                "jwks_uri": jwks,
            });
            // The document names its own issuer: written once the server's address is known.
            let listener_issuer = serve_once_with(document, placeholder).await;
            let error = discovery(&listener_issuer, NOW).await.unwrap_err();
            assert!(matches!(error, ProviderError::Unavailable(_)), "{jwks}: {error}");
        }
    }

    /// [`serve_once`], with `placeholder` in the document replaced by the issuer's URL.
    async fn serve_once_with(document: Value, placeholder: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let body = document.to_string().replace(placeholder, &issuer);
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
        });
        issuer
    }

    #[tokio::test]
    async fn none_and_hmac_tokens_are_refused_before_any_key_is_fetched() {
        // The issuer is unreachable: an algorithm check after a fetch would fail as unavailable.
        let discovery = Discovery {
            issuer: "http://127.0.0.1:9".into(),
            token_endpoint: String::new(),
            jwks_uri: "http://127.0.0.1:9/jwks".into(),
            userinfo_endpoint: None,
        };
        for alg in ["none", "HS256", "RS512", "PS256"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
            let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
            let token = format!("{header}.{payload}.");
            let error = verify_id_token(&token, &discovery, &["https://idp.example"], "us", None, NOW)
                .await
                .unwrap_err();
            assert!(
                matches!(error, IdTokenError::Rejected(Rejected::Algorithm)),
                "{alg}: {error}"
            );
        }
        let error = verify_id_token("a.b", &discovery, &["x"], "us", None, NOW)
            .await
            .unwrap_err();
        assert!(matches!(error, IdTokenError::Rejected(Rejected::Malformed)));
    }
}
