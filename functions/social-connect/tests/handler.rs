//! Handler tests for POST /account/social/{provider}/connect/ over the memory store: the bearer
//! comes first, then the provider and the body; and the linking rules of connect
//! (`shared::social::connect`) on an identity a provider vouched for. The provider paths run
//! against a real OpenID provider in the end-to-end suite.

use serde_json::json;

use shared::http::ApiError;
use shared::social::{CONNECTED_ELSEWHERE, Identity, NO_CREDENTIAL, Social, SocialSettings, connect};
use shared::store::{EventKind, SessionOrigin, SocialStore};
use shared::testing::{
    PASSWORD, app, assert_400, assert_401, assert_post_route_conventions, bearer, body_json, join_user, password_is,
    post_json, recorded, refused_authorizations,
};
use social_connect::handle;

const PATH: &str = "/account/social/google/connect/";

fn social() -> Social {
    let settings = SocialSettings::parse(Some(r#"{"google": {"client_id": "g"}}"#)).expect("valid settings");
    Social::new(settings, Default::default())
}

fn identity(uid: &str) -> Identity {
    Identity {
        uid: uid.to_owned(),
        email: Some("whoever@example.com".to_owned()),
        email_verified: true,
        first_name: String::new(),
        last_name: String::new(),
    }
}

#[tokio::test]
async fn the_route_answers_its_conventions_and_wants_a_bearer_first() {
    let app = app();
    let social = social();
    assert_post_route_conventions(
        |request| handle(&app, &social, request),
        PATH,
        "Social Connect",
        &["/account/social/google/connected/", "/account/social/connect/"],
    )
    .await;
    let (user, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &tokens) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let response = handle(&app, &social, post_json(PATH, &json!({"code": "c"}), &headers)).await;
        assert_401(&response, &expected);
    }
    let authorization = bearer(&tokens.access);
    let headers = [("authorization", authorization.as_str())];
    let response = handle(
        &app,
        &social,
        post_json("/account/social/apple/connect/", &json!({"code": "c"}), &headers),
    )
    .await;
    assert_eq!(response.status(), 404);
    let response = handle(&app, &social, post_json(PATH, &json!({}), &headers)).await;
    assert_400(&response, &json!({"non_field_errors": [NO_CREDENTIAL]}));
}

#[tokio::test]
async fn a_provider_account_links_to_the_caller_once_and_to_nobody_else() {
    let app = app();
    let (ada, _) = join_user(&app, "ada@example.com", PASSWORD).await;
    let (bob, _) = join_user(&app, "bob@example.com", PASSWORD).await;
    let google = social().settings.provider("google").cloned().unwrap();
    let origin = SessionOrigin::default();
    let link = connect(&app, &ada, &google, &identity("g-1"), &origin)
        .await
        .expect("linked");
    assert_eq!((link.user_id, link.uid.as_str()), (ada.id, "g-1"));
    assert!(password_is(&app, ada.id, PASSWORD), "the password stays");
    assert_eq!(recorded(&app, EventKind::SocialConnected).len(), 1);
    // Again: the same link, nothing recorded twice.
    let ada = app.store.user(ada.id).unwrap();
    assert_eq!(
        connect(&app, &ada, &google, &identity("g-1"), &origin)
            .await
            .expect("same"),
        link
    );
    assert_eq!(recorded(&app, EventKind::SocialConnected).len(), 1);
    // Bob may not take it (dj-rest-auth 7.2 would hand him Ada's tokens).
    let error = connect(&app, &bob, &google, &identity("g-1"), &origin)
        .await
        .unwrap_err();
    let response = error.into_response();
    assert_400(&response, &json!({"non_field_errors": [CONNECTED_ELSEWHERE]}));
    assert!(app.store.social_links_of(bob.id).await.unwrap().is_empty());
    assert_eq!(body_json(&response)["non_field_errors"][0], CONNECTED_ELSEWHERE);
}

#[tokio::test]
async fn a_provider_account_held_by_a_deleted_user_is_freed_for_a_retry() {
    let app = app();
    let (ada, _) = join_user(&app, "ada@example.com", PASSWORD).await;
    let (bob, _) = join_user(&app, "bob@example.com", PASSWORD).await;
    let google = social().settings.provider("google").cloned().unwrap();
    let origin = SessionOrigin::default();
    connect(&app, &ada, &google, &identity("g-2"), &origin)
        .await
        .expect("linked");
    app.store.delete_user(ada.id);
    let error = connect(&app, &bob, &google, &identity("g-2"), &origin)
        .await
        .unwrap_err();
    assert!(matches!(error, ApiError::Conflict), "{error:?}");
    let link = connect(&app, &bob, &google, &identity("g-2"), &origin)
        .await
        .expect("the retry links");
    assert_eq!(link.user_id, bob.id);
}
