//! Handler tests for POST /account/social/{provider}/ over the memory store: what the route
//! answers before any provider is asked, and the linking rules (`shared::social`) applied to an
//! identity a provider vouched for — every row of the table, each with what it must not do.
//! The provider paths themselves (code, ID token, access token) run against a real OpenID
//! provider in the end-to-end suite (`tests/e2e/social.rs`).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::App;
use shared::social::{
    ACCOUNT_DISABLED, ALREADY_REGISTERED, EMAIL_NOT_VERIFIED, Identity, NO_CREDENTIAL, NO_EMAIL, Provider, Social,
    SocialSettings, sign_in,
};
use shared::store::{EmailStore, EventKind, MemoryStore, SocialStore, UserStore};
use shared::testing::{
    PASSWORD, app, app_with, assert_400, assert_post_route_conventions, assert_security_headers, body_json,
    create_user, password_is, post_json, recorded, set_cookie,
};
use social_login::handle;

const PATH: &str = "/account/social/google/";

fn social() -> Social {
    let settings = SocialSettings::parse(Some(
        r#"{"google": {"client_id": "g"}, "kakao": {"client_id": "k", "app_id": 1}, "naver": {"client_id": "n"}}"#,
    ))
    .expect("valid settings");
    Social::new(settings, Default::default())
}

fn google() -> Provider {
    social().settings.provider("google").cloned().expect("configured")
}

fn identity(uid: &str, email: Option<&str>, verified: bool) -> Identity {
    Identity {
        uid: uid.to_owned(),
        email: email.map(str::to_owned),
        email_verified: verified,
        first_name: "Sun".to_owned(),
        last_name: "Kim".to_owned(),
    }
}

async fn signed_in(app: &App<MemoryStore>, who: &Identity) -> Response<Body> {
    let request = post_json(PATH, &json!({}), &[]);
    match sign_in(app, &google(), who, &request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn refused(message: &str) -> Value {
    json!({"non_field_errors": [message]})
}

#[track_caller]
fn assert_logged_in(response: &Response<Body>, email: &str) -> u64 {
    assert_eq!(response.status(), 200, "{}", body_json(response));
    assert_security_headers(response);
    let body = body_json(response);
    assert_eq!(body["user"]["email"], email);
    assert!(body["access"].is_string() && body["refresh"].is_string());
    assert!(set_cookie(response, "my-app-auth").is_some() && set_cookie(response, "my-refresh-token").is_some());
    body["user"]["pk"].as_u64().expect("a pk")
}

#[tokio::test]
async fn the_route_answers_its_conventions_and_names_only_configured_providers() {
    let app = app();
    let social = social();
    assert_post_route_conventions(
        |request| handle(&app, &social, request),
        PATH,
        "Social Login",
        &[
            "/account/social/",
            "/account/social/google/connect/extra/",
            "/account/socials/google/",
        ],
    )
    .await;
    for unknown in [
        "/account/social/apple/",
        "/account/social/Google/",
        "/account/social/google%2F/",
    ] {
        let response = handle(&app, &social, post_json(unknown, &json!({"code": "c"}), &[])).await;
        assert_eq!(response.status(), 404, "{unknown}");
        assert_eq!(body_json(&response), json!({"detail": "Not found."}));
    }
    // No provider configured at all: every provider is unknown.
    let none = Social::new(SocialSettings::default(), Default::default());
    let response = handle(&app, &none, post_json(PATH, &json!({"code": "c"}), &[])).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_body_without_a_credential_gets_dj_rest_auths_answer() {
    let app = app();
    let social = social();
    for body in [
        json!({}),
        json!({"code": ""}),
        json!({"access_token": "  "}),
        json!({"nonce": "n"}),
    ] {
        let response = handle(&app, &social, post_json(PATH, &body, &[])).await;
        assert_400(&response, &refused(NO_CREDENTIAL));
    }
    let response = handle(
        &app,
        &social,
        post_json(PATH, &json!({"code": 7, "id_token": ["x"]}), &[]),
    )
    .await;
    assert_400(
        &response,
        &json!({"code": ["Not a valid string."], "id_token": ["Not a valid string."]}),
    );
    let long = "x".repeat(8193);
    let response = handle(&app, &social, post_json(PATH, &json!({"id_token": long}), &[])).await;
    assert_eq!(response.status(), 400);
    // Naver's access tokens cannot be checked to be ours: refused before any call.
    let naver = "/account/social/naver/";
    let response = handle(&app, &social, post_json(naver, &json!({"access_token": "t"}), &[])).await;
    assert_400(&response, &refused(shared::social::identity::CODE_ONLY));
    let response = handle(&app, &social, post_json(naver, &json!({"id_token": "a.b.c"}), &[])).await;
    assert_400(&response, &refused(shared::social::identity::CODE_ONLY));
}

#[tokio::test]
async fn a_new_provider_account_becomes_a_user_with_no_password_and_the_providers_flag() {
    let app = app();
    let id = assert_logged_in(
        &signed_in(&app, &identity("g-1", Some("Sun@Example.COM"), true)).await,
        "sun@example.com",
    );
    let user = app.store.user(id).expect("created");
    assert!(!user.has_usable_password(), "no password anyone could guess");
    assert!(!password_is(&app, id, ""), "not even an empty one");
    assert!(user.email_verified);
    assert_eq!((user.first_name.as_str(), user.last_name.as_str()), ("Sun", "Kim"));
    assert_eq!(user.social_links, 1);
    let links = app.store.social_links_of(id).await.unwrap();
    assert_eq!(
        (links.len(), links[0].uid.as_str(), links[0].provider.as_str()),
        (1, "g-1", "google")
    );
    let joined = recorded(&app, EventKind::Join);
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].detail.get("provider").map(String::as_str), Some("google"));
    assert_eq!(recorded(&app, EventKind::Login).len(), 1);

    // The same provider account again: the same user, a second session, no second user.
    assert_eq!(
        assert_logged_in(
            &signed_in(&app, &identity("g-1", Some("other@example.com"), true)).await,
            "sun@example.com"
        ),
        id
    );
    assert!(
        !app.store.email_registered("other@example.com").await.unwrap(),
        "the link decides, not the address"
    );
    assert_eq!(recorded(&app, EventKind::Login).len(), 2);
}

#[tokio::test]
async fn an_unverified_provider_address_still_makes_a_user_but_never_a_verified_one() {
    let app = app();
    let id = assert_logged_in(
        &signed_in(&app, &identity("n-1", Some("moon@example.com"), false)).await,
        "moon@example.com",
    );
    assert!(!app.store.user(id).unwrap().email_verified);
}

#[tokio::test]
async fn a_verified_address_of_a_verified_account_links_to_it_keeps_its_password_and_tells_its_owner() {
    let (app, mailer) = shared::testing::mailing_app_with(&[]);
    let user = create_user(&app, "ada@example.com", PASSWORD).await;
    app.store.mark_email_verified(user.id, "ada@example.com").await.unwrap();
    let id = assert_logged_in(
        &signed_in(&app, &identity("g-ada", Some("ada@example.com"), true)).await,
        "ada@example.com",
    );
    assert_eq!(id, user.id, "the existing account, not a new one");
    assert!(password_is(&app, id, PASSWORD), "a link never touches the password");
    let connected = recorded(&app, EventKind::SocialConnected);
    assert_eq!(connected.len(), 1);
    assert_eq!(
        connected[0].detail.get("how").map(String::as_str),
        Some("same verified address")
    );
    assert!(recorded(&app, EventKind::Join).is_empty());
    // The owner is told by mail, once: a link they did not make does not go unseen.
    let told = mailer.sent_to("ada@example.com");
    assert_eq!(told.len(), 1);
    assert!(told[0].subject.contains("Google"), "{}", told[0].subject);
    assert_logged_in(
        &signed_in(&app, &identity("g-ada", Some("ada@example.com"), true)).await,
        "ada@example.com",
    );
    assert_eq!(
        mailer.sent_to("ada@example.com").len(),
        1,
        "a sign-in through the link mails nothing"
    );
}

#[tokio::test]
async fn an_address_held_by_an_account_is_refused_unless_both_sides_are_verified() {
    let app = app();
    // The local account never verified its address: whoever registered it may not be its owner.
    let unverified = create_user(&app, "una@example.com", PASSWORD).await;
    let response = signed_in(&app, &identity("g-una", Some("una@example.com"), true)).await;
    assert_400(&response, &refused(ALREADY_REGISTERED));
    // The provider does not vouch for the address: anyone can type someone's address there.
    let verified = create_user(&app, "vera@example.com", PASSWORD).await;
    app.store
        .mark_email_verified(verified.id, "vera@example.com")
        .await
        .unwrap();
    let response = signed_in(&app, &identity("n-vera", Some("Vera@example.com"), false)).await;
    assert_400(&response, &refused(ALREADY_REGISTERED));
    for user in [&unverified, &verified] {
        assert!(
            app.store.social_links_of(user.id).await.unwrap().is_empty(),
            "no link made"
        );
        assert_eq!(app.store.user(user.id).unwrap().social_links, 0);
    }
    assert!(recorded(&app, EventKind::Login).is_empty(), "nobody signed in");
}

#[tokio::test]
async fn a_provider_account_without_an_address_is_refused() {
    let app = app();
    for email in [None, Some(""), Some("not an address")] {
        let response = signed_in(&app, &identity("k-1", email, true)).await;
        assert_400(&response, &refused(NO_EMAIL));
    }
    assert!(app.store.find_social_link("google", "k-1").await.unwrap().is_none());
}

#[tokio::test]
async fn an_inactive_user_cannot_sign_in_through_a_provider_either() {
    let app = app();
    let id = assert_logged_in(
        &signed_in(&app, &identity("g-2", Some("off@example.com"), true)).await,
        "off@example.com",
    );
    app.store.set_active(id, false);
    let response = signed_in(&app, &identity("g-2", Some("off@example.com"), true)).await;
    assert_400(&response, &refused(ACCOUNT_DISABLED));
    // Nor be linked by its verified address.
    let local = create_user(&app, "idle@example.com", PASSWORD).await;
    app.store
        .mark_email_verified(local.id, "idle@example.com")
        .await
        .unwrap();
    app.store.set_active(local.id, false);
    let response = signed_in(&app, &identity("g-3", Some("idle@example.com"), true)).await;
    assert_400(&response, &refused(ACCOUNT_DISABLED));
    assert!(app.store.social_links_of(local.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn under_mandatory_verification_an_unverified_address_joins_but_does_not_sign_in() {
    let app = app_with(&[("EMAIL_VERIFICATION", "mandatory")]);
    let response = signed_in(&app, &identity("n-2", Some("wait@example.com"), false)).await;
    assert_400(&response, &refused(EMAIL_NOT_VERIFIED));
    let user = app
        .store
        .find_by_email_now("wait@example.com")
        .expect("the account exists");
    assert!(
        app.store.social_links_of(user.id).await.unwrap().len() == 1,
        "linked: verifying the address lets it in"
    );
    assert!(recorded(&app, EventKind::Login).is_empty(), "no session");
    // A provider that vouches for the address signs in at once.
    assert_logged_in(
        &signed_in(&app, &identity("g-4", Some("ok@example.com"), true)).await,
        "ok@example.com",
    );
}

#[tokio::test]
async fn the_link_of_a_deleted_user_is_forgotten_and_the_person_starts_afresh() {
    let app = app();
    let first = assert_logged_in(
        &signed_in(&app, &identity("g-5", Some("gone@example.com"), true)).await,
        "gone@example.com",
    );
    app.store.delete_user(first);
    let second = assert_logged_in(
        &signed_in(&app, &identity("g-5", Some("gone@example.com"), true)).await,
        "gone@example.com",
    );
    assert_ne!(first, second, "a new account, not the deleted one");
    assert_eq!(
        app.store
            .find_social_link("google", "g-5")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        second
    );
}
