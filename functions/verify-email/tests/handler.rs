//! Handler tests for POST /account/join/verify-email/ over the memory store.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use shared::App;
use shared::store::MemoryStore;
use shared::testing::{
    EMAIL, PASSWORD, assert_not_found, assert_post_route_conventions, assert_security_headers, assert_unavailable,
    body_json, create_user, mailing_app_with, post_json,
};
use shared::tokens::links::encode_uid;
use verify_email::handle;

const PATH: &str = "/account/join/verify-email/";

async fn verify(app: &App<MemoryStore>, body: Value) -> Response<Body> {
    handle(app, post_json(PATH, &body, &[])).await
}

#[tokio::test]
async fn a_good_key_verifies_the_address_once() {
    let (app, _) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    let key = app
        .email_keys()
        .unwrap()
        .confirmation_key(user.id, EMAIL, shared::now_unix());
    let response = verify(&app, json!({"key": key})).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert_eq!(body_json(&response), json!({"detail": "ok"}));
    assert!(app.store.user(user.id).unwrap().email_verified);
    // Used: allauth answers 404 for a verified address's key.
    assert_not_found(&verify(&app, json!({"key": key})).await);
}

#[tokio::test]
async fn expired_forged_or_foreign_keys_are_not_found() {
    let (app, _) = mailing_app_with(&[("EMAIL_CONFIRM_TIMEOUT", "3600")]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    let other = create_user(&app, "other@example.com", PASSWORD).await;
    let now = shared::now_unix();
    let expired = app.email_keys().unwrap().confirmation_key(user.id, EMAIL, now - 3601);
    let for_other = app
        .email_keys()
        .unwrap()
        .confirmation_key(other.id, "other@example.com", now);
    let mac = for_other.rsplit(':').next().unwrap();
    let moved = format!("{}:{}", encode_uid(user.id), for_other.split_once(':').unwrap().1);
    let ghost = app
        .email_keys()
        .unwrap()
        .confirmation_key(999, "ghost@example.com", now);
    for key in [
        expired,
        moved,
        ghost,
        "bad".into(),
        format!("{}:abc:{mac}", encode_uid(user.id)),
        "::".into(),
    ] {
        assert_not_found(&verify(&app, json!({"key": key})).await);
    }
    assert!(!app.store.user(user.id).unwrap().email_verified);
    assert!(!app.store.user(other.id).unwrap().email_verified);
}

#[tokio::test]
async fn a_missing_or_blank_key_gets_the_references_400() {
    let (app, _) = mailing_app_with(&[]);
    for (body, expected) in [
        (json!({}), json!({"key": ["This field is required."]})),
        (json!({"key": ""}), json!({"key": ["This field may not be blank."]})),
        (json!({"key": null}), json!({"key": ["This field may not be null."]})),
        (json!({"key": ["a"]}), json!({"key": ["Not a valid string."]})),
    ] {
        let response = verify(&app, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(body_json(&response), expected, "{body}");
    }
    app.store.set_unavailable(true);
    assert_unavailable(&verify(&app, json!({"key": "MQ:abc:def"})).await);
}

#[tokio::test]
async fn the_route_answers_its_methods_and_nothing_else() {
    let (app, _) = mailing_app_with(&[]);
    let send = |request: Request| handle(&app, request);
    assert_post_route_conventions(
        send,
        PATH,
        "Verify Email",
        &["/account/join/verify/", "/account/join/verify-email/x/"],
    )
    .await;
}

#[tokio::test]
async fn a_verification_is_recorded_once_and_a_used_key_records_nothing() {
    use shared::store::{EventKind, EventSubject};
    let (app, _) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    let key = app
        .email_keys()
        .unwrap()
        .confirmation_key(user.id, EMAIL, shared::now_unix());
    assert_eq!(verify(&app, json!({"key": key})).await.status(), 200);
    assert_not_found(&verify(&app, json!({"key": key})).await);
    let verified = shared::testing::recorded(&app, EventKind::EmailVerified);
    assert_eq!(verified.len(), 1);
    assert_eq!(
        (verified[0].user.clone(), verified[0].actor),
        (EventSubject::User(user.id), Some(user.id))
    );
}
