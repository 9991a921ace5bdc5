//! Handler tests for GET /account/socialaccounts/ over the memory store: the bearer's links,
//! in dj-rest-auth's fields, and nobody else's.

use lambda_http::{Body, Response};
use serde_json::json;

use shared::App;
use shared::store::MemoryStore;
use shared::testing::{
    PASSWORD, app, assert_401, assert_security_headers, bearer, body_json, event, header, join_user, link_account,
    refused_authorizations,
};
use social_accounts::handle;

const PATH: &str = "/account/socialaccounts/";

async fn list(app: &App<MemoryStore>, access: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(app, event("GET", PATH, &[("authorization", &authorization)], None)).await
}

#[tokio::test]
async fn the_bearer_sees_their_links_and_only_theirs() {
    let app = app();
    let (ada, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    let (bob, bobs) = join_user(&app, "bob@example.com", PASSWORD).await;
    let response = list(&app, &tokens.access).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert_eq!(header(&response, "allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(body_json(&response), json!([]));

    let google = link_account(&app, ada.id, "google", "1001").await;
    let kakao = link_account(&app, ada.id, "kakao", "2002").await;
    link_account(&app, bob.id, "naver", "bob-id").await;
    let body = body_json(&list(&app, &tokens.access).await);
    assert_eq!(
        body,
        json!([
            {"id": google.id, "provider": "google", "uid": "1001", "last_login": google.last_login, "date_joined": google.date_joined},
            {"id": kakao.id, "provider": "kakao", "uid": "2002", "last_login": kakao.last_login, "date_joined": kakao.date_joined},
        ])
    );
    let body = body_json(&list(&app, &bobs.access).await);
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert_eq!(body[0]["provider"], "naver");
}

#[tokio::test]
async fn anonymous_and_refused_tokens_get_the_protected_routes_401() {
    let app = app();
    let (user, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &tokens) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let response = handle(&app, event("GET", PATH, &headers, None)).await;
        assert_401(&response, &expected);
    }
    let response = handle(&app, event("POST", PATH, &[], Some("{}"))).await;
    assert_eq!(response.status(), 405);
}
