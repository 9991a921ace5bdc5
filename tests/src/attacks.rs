//! The token attack list: RFC 8725's pitfalls and jwt_tool's attack modes, each made from a
//! genuine token of a live session, so that only the attack can be what refuses it. None may
//! be accepted; each must get the contract's 401 for an invalid (or, where it says so,
//! expired) token. The list holds in both modes (`JWT_ALGORITHM` HS256 or ES256): "our key" is
//! the stack's signing key, and "our HMAC secret" what an attacker would try as one (the HS256
//! secret, or under ES256 the public key's bytes, as in the alg-confusion attack).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::{FOREIGN_KEY, claims, now, our_hmac_secret, sign_as_stack, signed_by_stack, stack_header, stack_keys};

/// How the service must refuse an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Invalid,
    Expired,
}

pub struct Attack {
    pub name: String,
    pub token: String,
    pub refusal: Refusal,
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// `header.payload` signed with HMAC-SHA256 under `key`, whatever `header` claims.
fn hmac_signed(header: &Value, payload: &Value, key: &[u8]) -> String {
    let message = format!("{}.{}", segment(header), segment(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(key), Algorithm::HS256)
        .expect("HMAC signing");
    format!("{message}.{signature}")
}

fn hs256() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

/// The genuine claims with `changes` applied (a `null` change removes the claim).
fn claims_changed(genuine: &str, changes: Value) -> Value {
    let mut claims = claims(genuine);
    let object = claims.as_object_mut().expect("claims are an object");
    for (key, value) in changes.as_object().expect("changes are an object") {
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    claims
}

/// Every attack on `genuine` (an access or refresh token of a live session).
pub fn token_attacks(genuine: &str) -> Vec<Attack> {
    let key = our_hmac_secret();
    let mut attacks = Vec::new();
    let mut add = |name: String, token: String, refusal: Refusal| attacks.push(Attack { name, token, refusal });
    let mut parts = genuine.split('.');
    let (header, payload, signature) = (
        parts.next().expect("header").to_owned(),
        parts.next().expect("payload").to_owned(),
        parts.next().expect("signature").to_owned(),
    );
    let genuine_claims = claims(genuine);
    let now = now();

    // alg "none", every spelling, with an empty, a stripped and the genuine signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned = format!("{}.{payload}", segment(&json!({"alg": alg, "typ": "JWT"})));
        add(
            format!("alg {alg}, empty signature"),
            format!("{unsigned}."),
            Refusal::Invalid,
        );
        add(
            format!("alg {alg}, no signature segment"),
            unsigned.clone(),
            Refusal::Invalid,
        );
        add(
            format!("alg {alg}, genuine signature"),
            format!("{unsigned}.{signature}"),
            Refusal::Invalid,
        );
    }

    // Signatures emptied, stripped, damaged.
    add(
        "empty signature".into(),
        format!("{header}.{payload}."),
        Refusal::Invalid,
    );
    add(
        "signature stripped".into(),
        format!("{header}.{payload}"),
        Refusal::Invalid,
    );
    add(
        "signature truncated".into(),
        format!("{header}.{payload}.{}", &signature[..10]),
        Refusal::Invalid,
    );
    let mut flipped = URL_SAFE_NO_PAD.decode(&signature).expect("base64url signature");
    flipped[0] ^= 1;
    add(
        "signature with one bit flipped".into(),
        format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(&flipped)),
        Refusal::Invalid,
    );
    add(
        "signature in padded standard base64".into(),
        format!("{header}.{payload}.{}", STANDARD.encode(&flipped)),
        Refusal::Invalid,
    );

    // HS256 re-signed with an empty or a guessed key, or another deployment's.
    let guesses: [&[u8]; 12] = [
        b"",
        b"secret",
        b"password",
        b"123456",
        b"changeme",
        b"key",
        b"jwt",
        b"null",
        b"your-256-bit-secret",
        b"SECRET_KEY",
        b"django-insecure-change-me",
        FOREIGN_KEY,
    ];
    for guess in guesses {
        let fresh = claims_changed(genuine, json!({"jti": crate::random_hex()}));
        add(
            format!("HS256 re-signed with key {:?}", String::from_utf8_lossy(guess)),
            hmac_signed(&hs256(), &fresh, guess),
            Refusal::Invalid,
        );
    }

    // Algorithm confusion: headers naming other algorithms over our key's HMAC-SHA256, and
    // HS384/HS512 really signed with our key.
    for alg in [
        "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA", "HS384", "HS512",
        "hs256", "HS256 ", "",
    ] {
        add(
            format!("header alg {alg:?} over an HS256 signature"),
            hmac_signed(&json!({"alg": alg, "typ": "JWT"}), &genuine_claims, &key),
            Refusal::Invalid,
        );
    }
    add(
        "alg header missing".into(),
        hmac_signed(&json!({"typ": "JWT"}), &genuine_claims, &key),
        Refusal::Invalid,
    );
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        add(
            format!("{algorithm:?} signed with our key"),
            crate::sign(&genuine_claims, &key, algorithm),
            Refusal::Invalid,
        );
    }

    // Key-location headers pointing at keys the attacker controls.
    let attacker_key = b"attacker-controlled-key-0123456789abcdef";
    let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(attacker_key)});
    for (name, extra, signing_key) in [
        (
            "kid path traversal to /dev/null",
            json!({"kid": "../../../../../../dev/null"}),
            &b""[..],
        ),
        ("kid SQL injection", json!({"kid": "x' UNION SELECT 'key"}), &b"key"[..]),
        (
            "kid naming an attacker key",
            json!({"kid": "attacker"}),
            &attacker_key[..],
        ),
        (
            "jku to an attacker's JWKS",
            json!({"jku": "https://attacker.example/jwks.json"}),
            &attacker_key[..],
        ),
        (
            "x5u to an attacker's certificate",
            json!({"x5u": "https://attacker.example/cert.pem"}),
            &attacker_key[..],
        ),
        ("embedded jwk", json!({"jwk": jwk}), &attacker_key[..]),
        (
            "x5c chain",
            json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
            &attacker_key[..],
        ),
    ] {
        let mut header = hs256();
        for (field, value) in extra.as_object().expect("object") {
            header[field] = value.clone();
        }
        add(
            name.to_owned(),
            hmac_signed(&header, &genuine_claims, signing_key),
            Refusal::Invalid,
        );
    }

    // Key-id and algorithm confusion between the two modes: our own key and claims under a
    // header that is not ours, HMAC over the public key's bytes under our kid, and another
    // key (an attacker's P-256 key) under our kid, announced or not.
    let ours = stack_keys();
    let our_kid = ours.signing_kid.clone();
    for (name, changes) in [
        ("our key, a kid we do not hold", json!({"kid": "not-a-key-we-hold"})),
        ("our key, no kid", json!({"kid": null})),
        ("our key, kid as a number", json!({"kid": 1})),
        ("our key, our kid padded", json!({"kid": format!("{our_kid} ")})),
        (
            "our key, our own public key as an embedded jwk",
            json!({"jwk": ours.held[0].public_jwk.clone().unwrap_or(json!({"kty": "oct", "k": "AA"}))}),
        ),
        (
            "our key, a jku to our own key set",
            json!({"jku": "https://api.example.com/account/.well-known/jwks.json"}),
        ),
        ("our key, an x5u", json!({"x5u": "https://attacker.example/cert.pem"})),
        ("our key, a crit extension", json!({"crit": ["exp"], "exp": 1})),
    ] {
        let mut header = stack_header();
        for (field, value) in changes.as_object().expect("object") {
            if value.is_null() {
                header.as_object_mut().expect("object").remove(field);
            } else {
                header[field] = value.clone();
            }
        }
        add(
            name.to_owned(),
            signed_by_stack(&header, &genuine_claims),
            Refusal::Invalid,
        );
    }
    let hmac_header = json!({"alg": "HS256", "typ": "JWT", "kid": our_kid});
    let mut hmac_secrets = vec![(
        "HS256 under our kid, keyed with the kid itself",
        our_kid.clone().into_bytes(),
    )];
    if let Some(jwk) = &ours.held[0].public_jwk {
        // Under ES256 the public key is what everyone has: HMAC over its bytes (the classic
        // confusion) or over its JWK. Under HS256 our HMAC secret is the real key.
        hmac_secrets.push(("HS256 under our kid, keyed with our public point", key.clone()));
        hmac_secrets.push((
            "HS256 under our kid, keyed with our public JWK's JSON",
            jwk.to_string().into_bytes(),
        ));
    }
    for (name, secret) in hmac_secrets {
        add(
            name.to_owned(),
            hmac_signed(&hmac_header, &genuine_claims, &secret),
            Refusal::Invalid,
        );
    }
    let attacker_pem = shared::tokens::keys::new_es256_pem().expect("a P-256 key");
    let attacker = shared::tokens::keys::KeyRing::build(
        shared::tokens::keys::JwtAlgorithm::Es256,
        &shared::tokens::keys::KeyMaterial {
            current: attacker_pem.into(),
            previous: None,
        },
    )
    .expect("the attacker's key");
    let attacker_signed = |header: Value| {
        let message = format!("{}.{}", segment(&header), segment(&genuine_claims));
        let signature = attacker
            .signing
            .as_ref()
            .expect("a signing ring")
            .sign(message.as_bytes())
            .expect("ES256 signing");
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    add(
        "ES256 under our kid, signed with an attacker's P-256 key".into(),
        attacker_signed(json!({"alg": "ES256", "typ": "JWT", "kid": our_kid})),
        Refusal::Invalid,
    );
    add(
        "ES256 under our kid, signed with an attacker's key announced as a jwk".into(),
        attacker_signed(json!({"alg": "ES256", "typ": "JWT", "kid": our_kid, "jwk": attacker.held[0].public_jwk})),
        Refusal::Invalid,
    );
    add(
        "ES256 under the attacker's own kid".into(),
        attacker_signed(json!({"alg": "ES256", "typ": "JWT", "kid": attacker.signing_kid})),
        Refusal::Invalid,
    );

    // Claims tampered with (each to a value other than the genuine one), genuine signature kept.
    let genuine_user: u64 = genuine_claims["user_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("user_id");
    let genuine_iat = genuine_claims["iat"].as_i64().expect("iat");
    for (name, change) in [
        ("user_id", json!({"user_id": (genuine_user + 1).to_string()})),
        ("sid", json!({"sid": crate::random_hex()})),
        ("jti", json!({"jti": crate::random_hex()})),
        ("exp pushed a year on", json!({"exp": now + 365 * 86400})),
        ("iat", json!({"iat": genuine_iat - 1000})),
        (
            "token_type",
            json!({"token_type": if genuine_claims["token_type"] == "access" { "refresh" } else { "access" }}),
        ),
    ] {
        let tampered = segment(&claims_changed(genuine, change));
        add(
            format!("tampered {name}, genuine signature"),
            format!("{header}.{tampered}.{signature}"),
            Refusal::Invalid,
        );
    }

    // Claims missing or of the wrong type, correctly signed with our key.
    for claim in ["exp", "iat", "jti", "token_type", "user_id", "sid"] {
        add(
            format!("missing {claim}"),
            sign_as_stack(&claims_changed(genuine, json!({claim: null}))),
            Refusal::Invalid,
        );
    }
    for (name, change) in [
        ("exp as a string", json!({"exp": (now + 600).to_string()})),
        ("exp as a boolean", json!({"exp": true})),
        ("exp as an object", json!({"exp": {"seconds": now + 600}})),
        ("exp out of range", json!({"exp": 1e300})),
        ("iat as a string", json!({"iat": now.to_string()})),
        (
            "user_id as a number",
            json!({"user_id": genuine_claims["user_id"].as_str().and_then(|id| id.parse::<u64>().ok())}),
        ),
        (
            "user_id as a list",
            json!({"user_id": [genuine_claims["user_id"].clone()]}),
        ),
        ("user_id negative", json!({"user_id": "-1"})),
        ("user_id not a number", json!({"user_id": "1 OR 1=1"})),
        ("jti as a number", json!({"jti": 12345})),
        ("jti not an id", json!({"jti": "../../session"})),
        ("sid as a number", json!({"sid": 12345})),
        ("sid not an id", json!({"sid": "SESSION#x"})),
        ("token_type as a number", json!({"token_type": 1})),
        ("token_type unknown", json!({"token_type": "sliding"})),
    ] {
        let claims = claims_changed(genuine, change);
        add(
            format!("{name}, signed with our key"),
            sign_as_stack(&claims),
            Refusal::Invalid,
        );
    }

    // Time: expired (under our key and another's), issued far in the future.
    add(
        "expired, signed with our key".into(),
        sign_as_stack(&claims_changed(genuine, json!({"iat": now - 3660, "exp": now - 60}))),
        Refusal::Expired,
    );
    add(
        "expired, signed with another deployment's key".into(),
        crate::sign(
            &claims_changed(genuine, json!({"iat": now - 3660, "exp": now - 60})),
            FOREIGN_KEY,
            Algorithm::HS256,
        ),
        Refusal::Invalid,
    );
    add(
        "iat ten years ahead, signed with our key".into(),
        sign_as_stack(&claims_changed(genuine, json!({"iat": now + 10 * 365 * 86400}))),
        Refusal::Invalid,
    );

    // Oversized: a huge signature, a huge header (unsigned by us).
    add(
        "8 KB signature".into(),
        format!("{header}.{payload}.{}", "A".repeat(8192)),
        Refusal::Invalid,
    );
    add(
        "8 KB header".into(),
        hmac_signed(
            &json!({"alg": "HS256", "typ": "JWT", "pad": "x".repeat(6000)}),
            &genuine_claims,
            FOREIGN_KEY,
        ),
        Refusal::Invalid,
    );

    // Not a JWT: wrong segment counts, non-base64, non-JSON.
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    let list = URL_SAFE_NO_PAD.encode("[1,2]");
    for (name, token) in [
        ("one segment", payload.clone()),
        ("dots only", "..".to_owned()),
        ("four segments", format!("{genuine}.{signature}")),
        (
            "five segments (JWE shape)",
            format!("{header}.{payload}.{signature}.{payload}.{signature}"),
        ),
        ("non-base64 header", format!("!!!.{payload}.{signature}")),
        ("non-base64 payload", format!("{header}.@@@.{signature}")),
        ("non-base64 signature", format!("{header}.{payload}.###")),
        ("padded payload", format!("{header}.{payload}==.{signature}")),
        ("header not JSON", format!("{not_json}.{payload}.{signature}")),
        ("payload not JSON", format!("{header}.{not_json}.{signature}")),
        ("header a JSON list", format!("{list}.{payload}.{signature}")),
        (
            "payload a JSON list, signed by us",
            crate::sign_message_by_stack(&format!("{header}.{list}")),
        ),
    ] {
        add(name.to_owned(), token, Refusal::Invalid);
    }
    attacks
}
