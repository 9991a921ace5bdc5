//! The key commands on the stack's two secrets (`account-admin publish-public-keys` and
//! `rotate-signing-key`), against moto's Secrets Manager (the local server `make test` starts):
//! the key set secret learns a new public key before the signing secret signs with it, the
//! previous key stays `AWSPREVIOUS` and published, and a verify-only function reads the set.

use shared::ids::random_id;
use shared::tokens::keys::{JwtAlgorithm, KeyRing};
use shared::tokens::source::{KeySource, StoredKeys, publish_public_keys, rotate_signing_key};

async fn local_secrets() -> aws_sdk_secretsmanager::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .expect("these tests need the local server: run them with `make test`");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "local servers only");
    aws_sdk_secretsmanager::Client::new(&shared::aws::sdk_config().await)
}

async fn secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("key-test-{}", random_id());
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("secret created")
        .arn
        .expect("an ARN")
}

async fn stage(client: &aws_sdk_secretsmanager::Client, id: &str, label: &str) -> Option<String> {
    client
        .get_secret_value()
        .secret_id(id)
        .version_stage(label)
        .send()
        .await
        .ok()
        .and_then(|output| output.secret_string)
}

fn kids(ring: &KeyRing) -> Vec<String> {
    ring.held.iter().map(|key| key.kid.clone()).collect()
}

#[tokio::test]
async fn an_es256_rotation_publishes_the_new_public_key_first_and_keeps_the_previous_one() {
    let client = local_secrets().await;
    let first = shared::tokens::keys::new_es256_pem().expect("a key");
    let signing = secret(&client, &first).await;
    let key_set = secret(&client, r#"{"keys":[]}"#).await;

    let published = publish_public_keys(&client, &signing, &key_set)
        .await
        .expect("published");
    let first_kid = KeyRing::verify_only(&stage(&client, &key_set, "AWSCURRENT").await.expect("a set"))
        .expect("a key set")
        .signing_kid;
    assert_eq!(published, std::slice::from_ref(&first_kid));

    let new_kid = rotate_signing_key(
        &client,
        JwtAlgorithm::Es256,
        &signing,
        Some(&key_set),
        std::time::Duration::ZERO,
    )
    .await
    .expect("rotated");
    assert_ne!(new_kid, first_kid);
    assert_eq!(
        stage(&client, &signing, "AWSPREVIOUS").await.as_deref(),
        Some(first.as_str())
    );
    let current = stage(&client, &signing, "AWSCURRENT").await.expect("a current key");
    assert!(current.contains("BEGIN PRIVATE KEY"));

    // What a verify-only function reads: both public keys, the new one first.
    let source = KeySource::PublicKeysSecret {
        client: client.clone(),
        secret_id: key_set.clone(),
    };
    let Some(StoredKeys::Public(set)) = source.read().await.expect("read") else {
        panic!("the public key set");
    };
    assert!(!set.contains("\"d\""), "no private part: {set}");
    let ring = KeyRing::verify_only(&set).expect("a key set");
    assert_eq!(kids(&ring), [new_kid, first_kid]);
}

#[tokio::test]
async fn an_hs256_rotation_keeps_the_previous_secret_and_needs_no_key_set() {
    let client = local_secrets().await;
    let first = shared::tokens::keys::new_signing_key(JwtAlgorithm::Hs256).expect("a secret");
    let signing = secret(&client, &first).await;
    rotate_signing_key(&client, JwtAlgorithm::Hs256, &signing, None, std::time::Duration::ZERO)
        .await
        .expect("rotated");
    assert_eq!(
        stage(&client, &signing, "AWSPREVIOUS").await.as_deref(),
        Some(first.as_str())
    );
    assert_ne!(
        stage(&client, &signing, "AWSCURRENT").await.as_deref(),
        Some(first.as_str())
    );
}
