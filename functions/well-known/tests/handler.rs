//! The published keys over the in-memory store, with REST API events as AWS sends them.

use serde_json::{Value, json};
use shared::App;
use shared::store::MemoryStore;
use shared::testing::{body_json, event, test_config};

const ISSUER: &str = "https://abc.execute-api.eu-west-1.amazonaws.com/api/account";

fn es256_app(current: &str, previous: Option<&str>) -> App<MemoryStore> {
    let mut settings = vec![
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_SIGNING_KEY", current),
        ("JWT_ISSUER", ISSUER),
    ];
    if let Some(previous) = previous {
        settings.push(("JWT_PREVIOUS_SIGNING_KEY", previous));
    }
    App::new(test_config(&settings), MemoryStore::default())
}

async fn get(app: &App<MemoryStore>, path: &str) -> (u16, Value, String) {
    let response = well_known::handle(app, event("GET", path, &[], None)).await;
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), body_json(&response), cache)
}

#[tokio::test]
async fn the_key_set_lists_the_current_then_the_previous_public_key() {
    let (old, new) = (
        shared::tokens::keys::new_es256_pem().unwrap(),
        shared::tokens::keys::new_es256_pem().unwrap(),
    );
    let app = es256_app(&new, Some(&old));
    let token = app
        .tokens
        .issue(
            shared::tokens::TokenKind::Access,
            1,
            &shared::ids::random_id(),
            shared::ids::random_id(),
            shared::now_unix(),
        )
        .unwrap()
        .token;
    for path in ["/account/.well-known/jwks.json", "/account/.well-known/jwks.json/"] {
        let (status, body, cache) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(cache, "public, max-age=3600");
        let keys = body["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], e2e_kid(&token), "the current key signs");
        for key in keys {
            assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("EC"), Some("P-256")));
            assert_eq!((key["use"].as_str(), key["alg"].as_str()), (Some("sig"), Some("ES256")));
            assert!(key.get("d").is_none(), "never the private part");
        }
    }
}

fn e2e_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_discovery_document_names_the_issuer_and_its_key_set() {
    let app = es256_app(&shared::tokens::keys::new_es256_pem().unwrap(), None);
    let (status, body, cache) = get(&app, "/account/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    assert_eq!(cache, "public, max-age=3600");
    assert_eq!(body["issuer"], ISSUER);
    assert_eq!(body["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(body["id_token_signing_alg_values_supported"], json!(["ES256"]));
}

#[tokio::test]
async fn an_hs256_deployment_publishes_nothing() {
    let app = App::new(test_config(&[]), MemoryStore::default());
    for path in [
        "/account/.well-known/jwks.json",
        "/account/.well-known/openid-configuration/",
    ] {
        let (status, body, cache) = get(&app, path).await;
        assert_eq!((status, body), (404, json!({"detail": "Not found."})), "{path}");
        assert_eq!(cache, "no-store");
    }
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_as_everywhere() {
    let app = es256_app(&shared::tokens::keys::new_es256_pem().unwrap(), None);
    let (status, _, _) = get(&app, "/account/.well-known/other").await;
    assert_eq!(status, 404);
    let response = well_known::handle(&app, event("POST", "/account/.well-known/jwks.json", &[], Some("{}"))).await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");
}
