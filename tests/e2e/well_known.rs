//! The published keys: under ES256 the key set holds the key of every token the stack signs and
//! the discovery document points at it, as an API Gateway JWT authorizer reads them; under
//! HS256 there is no public key and both answer the JSON 404. Black-box: the mode is read from
//! the stack's own tokens.

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn the_key_set_publishes_the_key_of_our_tokens_or_nothing_under_hs256() {
    let session = new_user().await;
    let header = jwt_header(&session.access);
    for path in [JWKS.to_owned(), format!("{JWKS}/")] {
        let answer = get(&path, &[]).await;
        if header["alg"] == "HS256" {
            answer.expect(404, json!({"detail": "Not found."}));
            continue;
        }
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        let keys = answer.json()["keys"].as_array().expect("keys").clone();
        let ours = keys
            .iter()
            .find(|key| key["kid"] == header["kid"])
            .unwrap_or_else(|| panic!("the kid of our tokens is published: {}", answer.text));
        assert_eq!(ours["kty"], "EC");
        assert_eq!(ours["crv"], "P-256");
        assert_eq!(ours["use"], "sig");
        assert_eq!(ours["alg"], "ES256");
        assert!(keys.iter().all(|key| key.get("d").is_none()), "no private part");
    }
}

#[tokio::test]
async fn the_discovery_document_names_our_issuer_and_key_set() {
    let session = new_user().await;
    let answer = get(OPENID_CONFIGURATION, &[]).await;
    if jwt_header(&session.access)["alg"] == "HS256" {
        answer.expect(404, json!({"detail": "Not found."}));
        return;
    }
    assert_eq!(answer.status, 200, "{}", answer.text);
    let document = answer.json();
    // An API Gateway JWT authorizer requires the issuer to match the tokens' iss exactly.
    assert_eq!(document["issuer"], claims(&session.access)["iss"]);
    assert_eq!(document["issuer"], json!(issuer()));
    assert_eq!(
        document["jwks_uri"],
        json!(format!("{}/.well-known/jwks.json", issuer()))
    );
    assert_eq!(document["id_token_signing_alg_values_supported"], json!(["ES256"]));
}

#[tokio::test]
async fn the_published_documents_answer_only_get_head_and_options() {
    for path in [JWKS, OPENID_CONFIGURATION] {
        let answer = send("POST", path, &[], None).await;
        assert_eq!(answer.status, 405, "{path}");
        assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
        let answer = send("OPTIONS", path, &[], None).await;
        assert_eq!(answer.status, 200, "{path}");
    }
}
