//! Security review #17, at a function's cold start: under ES256 a function that only verifies
//! starts from the published public keys alone — the private key is neither needed nor read —
//! while a function that signs needs the private key. One test, since it sets the process's
//! environment as Lambda would.

use shared::ids::random_id;
use shared::tokens::TokenKind;
use shared::tokens::keys::{JwtAlgorithm, KeyMaterial, KeyRing};
use shared::{App, KeyUse, no_mailer};

fn set(name: &str, value: &str) {
    // SAFETY: this test binary runs a single test, on one thread, before any other reads.
    unsafe { std::env::set_var(name, value) }
}

#[tokio::test(flavor = "current_thread")]
async fn a_verifier_starts_from_the_public_keys_alone_and_a_signer_needs_the_private_key() {
    let dir = std::env::temp_dir().join(format!("key-use-{}", random_id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let pem = shared::tokens::keys::new_es256_pem().expect("a P-256 key");
    let (private, public) = (dir.join("current.pem"), dir.join("public-keys.json"));
    std::fs::write(&private, &pem).expect("written");
    let material = KeyMaterial {
        current: pem.clone().into(),
        previous: None,
    };
    let published = KeyRing::build(JwtAlgorithm::Es256, &material)
        .expect("a ring")
        .jwks()
        .expect("public keys");
    std::fs::write(&public, published.to_string()).expect("written");
    for (name, value) in [
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_ISSUER", "https://api.example.com/account"),
        ("JWT_PUBLIC_KEYS_FILE", public.to_str().expect("a UTF-8 path")),
        ("AWS_REGION", "us-east-1"),
    ] {
        set(name, value);
    }
    // The private key is nowhere to be read.
    set("JWT_SIGNING_KEY_FILE", dir.join("absent.pem").to_str().expect("UTF-8"));

    let verifier = App::from_env(KeyUse::Verify, no_mailer)
        .await
        .expect("a verifier starts");
    let ring = verifier.tokens.ring();
    assert!(ring.signing.is_none() && ring.email.is_none(), "nothing that signs");
    let signer = App::from_env(KeyUse::Sign, no_mailer).await;
    assert!(signer.is_err(), "a signer without its private key does not start");

    set("JWT_SIGNING_KEY_FILE", private.to_str().expect("UTF-8"));
    let signer = App::from_env(KeyUse::Sign, no_mailer).await.expect("a signer starts");
    let token = signer
        .tokens
        .issue(TokenKind::Access, 7, &random_id(), random_id(), shared::now_unix())
        .expect("signed")
        .token;
    let verifier = App::from_env(KeyUse::Verify, no_mailer)
        .await
        .expect("a verifier starts");
    assert!(
        verifier.tokens.ring().signing.is_none(),
        "the private key, readable now, is not read"
    );
    assert_eq!(
        verifier
            .tokens
            .verify(&token, TokenKind::Access)
            .expect("verified")
            .user_id,
        7
    );

    // Under HS256 the shared secret is what verifies: every function reads it.
    set("JWT_ALGORITHM", "HS256");
    let secret = dir.join("secret");
    std::fs::write(&secret, "key-use-test-secret-0123456789abcdef").expect("written");
    set("JWT_SIGNING_KEY_FILE", secret.to_str().expect("UTF-8"));
    let verifier = App::from_env(KeyUse::Verify, no_mailer)
        .await
        .expect("an HS256 verifier starts");
    assert!(verifier.tokens.ring().signing.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
