//! Handler tests for POST /account/socialaccounts/{pk}/disconnect/ over the memory store: a link
//! removed, dj-rest-auth's `{}`; never the last way to sign in; never another user's link.

use lambda_http::{Body, Response};
use serde_json::json;

use shared::App;
use shared::social::NO_PASSWORD;
use shared::store::{EventKind, MemoryStore, SocialLink, SocialStore};
use shared::testing::{
    PASSWORD, SessionTokens, app, assert_400, assert_401, assert_post_route_conventions, bearer, body_json, join_user,
    link_account, post_json, recorded, refused_authorizations, social_user,
};
use social_account_disconnect::handle;

fn path(id: u64) -> String {
    format!("/account/socialaccounts/{id}/disconnect/")
}

async fn disconnect(app: &App<MemoryStore>, access: &str, id: u64) -> Response<Body> {
    let authorization = bearer(access);
    handle(
        app,
        post_json(&path(id), &json!({}), &[("authorization", &authorization)]),
    )
    .await
}

async fn social_only(app: &App<MemoryStore>, email: &str) -> (u64, SocialLink, SessionTokens) {
    let (user, link, tokens) = social_user(app, email).await;
    (user.id, link, tokens)
}

#[tokio::test]
async fn the_route_answers_its_conventions() {
    let app = app();
    assert_post_route_conventions(
        |request| handle(&app, request),
        &path(1),
        "Social Account Disconnect",
        &[
            "/account/socialaccounts/1/",
            "/account/socialaccounts/disconnect/",
            "/account/socialaccounts/1/disconnect/x/",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_user_with_a_password_disconnects_a_link_and_it_is_gone() {
    let app = app();
    let (user, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    let link = link_account(&app, user.id, "google", "1").await;
    let response = disconnect(&app, &tokens.access, link.id).await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_eq!(body_json(&response), json!({}));
    assert!(app.store.social_links_of(user.id).await.unwrap().is_empty());
    assert!(app.store.find_social_link("google", "1").await.unwrap().is_none());
    assert_eq!(app.store.user(user.id).unwrap().social_links, 0);
    let events = recorded(&app, EventKind::SocialDisconnected);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail.get("provider").map(String::as_str), Some("google"));
    // Again: it is not the caller's any more.
    assert_eq!(disconnect(&app, &tokens.access, link.id).await.status(), 404);
}

#[tokio::test]
async fn the_last_way_to_sign_in_is_never_removed() {
    let app = app();
    let (user_id, google, tokens) = social_only(&app, "sun@example.com").await;
    let response = disconnect(&app, &tokens.access, google.id).await;
    assert_400(&response, &json!({"non_field_errors": [NO_PASSWORD]}));
    assert_eq!(app.store.social_links_of(user_id).await.unwrap(), vec![google.clone()]);
    // With a second link, either may go; then the other is the last again.
    let kakao = link_account(&app, user_id, "kakao", "2").await;
    assert_eq!(disconnect(&app, &tokens.access, google.id).await.status(), 200);
    assert_400(
        &disconnect(&app, &tokens.access, kakao.id).await,
        &json!({"non_field_errors": [NO_PASSWORD]}),
    );
    assert!(recorded(&app, EventKind::SocialDisconnected).len() == 1);
}

#[tokio::test]
async fn another_users_link_an_unknown_id_and_a_malformed_one_are_not_found() {
    let app = app();
    let (_, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    let (bob, _) = join_user(&app, "bob@example.com", PASSWORD).await;
    let bobs = link_account(&app, bob.id, "google", "b").await;
    assert_eq!(disconnect(&app, &tokens.access, bobs.id).await.status(), 404);
    assert_eq!(disconnect(&app, &tokens.access, 999).await.status(), 404);
    let authorization = bearer(&tokens.access);
    for malformed in ["x", "-1", "1.0", "18446744073709551616"] {
        let request = post_json(
            &format!("/account/socialaccounts/{malformed}/disconnect/"),
            &json!({}),
            &[("authorization", &authorization)],
        );
        let response = handle(&app, request).await;
        assert_eq!(response.status(), 404, "{malformed}");
        assert_eq!(body_json(&response), json!({"detail": "Not found."}));
    }
    assert_eq!(app.store.social_links_of(bob.id).await.unwrap(), vec![bobs]);
}

#[tokio::test]
async fn anonymous_and_refused_tokens_get_the_protected_routes_401() {
    let app = app();
    let (user, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    let link = link_account(&app, user.id, "google", "1").await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &tokens) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let response = handle(&app, post_json(&path(link.id), &json!({}), &headers)).await;
        assert_401(&response, &expected);
    }
    assert_eq!(app.store.social_links_of(user.id).await.unwrap().len(), 1);
}
