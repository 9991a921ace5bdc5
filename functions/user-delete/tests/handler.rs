//! Handler tests for POST /account/user/delete/ over the memory store (issue 13: the password
//! checked against the login throttle; then the user, the email claim, every session and the
//! throttle record removed, so every token dies and the email joins again as a new user).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::App;
use shared::store::{MemoryStore, SessionListStore, UserStore};
use shared::testing::{
    PASSWORD, app, app_with, assert_400, assert_401, assert_no_content, assert_post_route_conventions,
    assert_unavailable, bearer, body_json, create_user, event, header, join_user, post_json, refused_authorizations,
    start_session, token_not_valid, user_inactive,
};
use user_delete::{WRONG_PASSWORD, handle};

const PATH: &str = "/account/user/delete/";
const EMAIL: &str = "leaving@example.com";

async fn delete(app: &App<MemoryStore>, access: &str, body: Value) -> Response<Body> {
    let authorization = bearer(access);
    handle(app, post_json(PATH, &body, &[("authorization", &authorization)])).await
}

#[tokio::test]
async fn the_right_password_deletes_everything_of_the_account_and_every_token_dies() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    let others = [start_session(&app, user.id).await, start_session(&app, user.id).await];
    // A wrong guess first: the deletion forgets it with the rest.
    assert_eq!(
        delete(&app, &caller.access, json!({"password": "Wrong-Pw!0000"}))
            .await
            .status(),
        400
    );
    assert!(app.store.throttle(EMAIL).is_some());

    let response = delete(&app, &caller.access, json!({"password": PASSWORD})).await;
    assert_no_content(&response);
    assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
    assert!(app.store.user(user.id).is_none(), "the user");
    assert!(!app.store.email_registered(EMAIL).await.unwrap(), "the email claim");
    assert!(
        app.store.list_sessions(user.id).await.unwrap().is_empty(),
        "every session"
    );
    assert_eq!(app.store.throttle(EMAIL), None, "the throttle record");
    // Their sessions are gone (a session left behind would meet `User not found` instead).
    for tokens in [&caller, &others[0], &others[1]] {
        let response = delete(&app, &tokens.access, json!({"password": PASSWORD})).await;
        assert_401(&response, &token_not_valid("Token is invalid"));
    }
}

#[tokio::test]
async fn the_email_joins_again_as_a_new_user_with_a_new_pk() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    assert_no_content(&delete(&app, &caller.access, json!({"password": PASSWORD})).await);
    let again = create_user(&app, EMAIL, PASSWORD).await;
    assert!(again.id > user.id, "pk values are never reused");
    assert_eq!(again.first_name, "");
    let (_, fresh) = (again.id, start_session(&app, again.id).await);
    assert_eq!(
        delete(&app, &caller.access, json!({"password": PASSWORD}))
            .await
            .status(),
        401,
        "the old account's tokens do not reach the new one"
    );
    assert_no_content(&delete(&app, &fresh.access, json!({"password": PASSWORD})).await);
}

#[tokio::test]
async fn a_wrong_password_is_a_field_error_and_deletes_nothing() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    for path in [PATH, "/account/user/delete"] {
        let authorization = bearer(&caller.access);
        let body = json!({"password": "Not-The-Pw!1234"});
        let response = handle(&app, post_json(path, &body, &[("authorization", &authorization)])).await;
        assert_400(&response, &json!({"password": [WRONG_PASSWORD]}));
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
    }
    assert_eq!(
        WRONG_PASSWORD,
        "Your password was entered incorrectly. Please enter it again."
    );
    assert!(app.store.user(user.id).is_some());
    assert!(app.store.email_registered(EMAIL).await.unwrap());
    assert_eq!(app.store.list_sessions(user.id).await.unwrap().len(), 1);
    assert_eq!(app.store.throttle(EMAIL).map(|record| record.failures), Some(2));
}

#[tokio::test]
async fn wrong_passwords_count_against_the_login_throttle_and_get_its_429() {
    let app = app_with(&[("LOGIN_THROTTLE_FAILURES", "3")]);
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    for _ in 0..3 {
        let response = delete(&app, &caller.access, json!({"password": "Not-The-Pw!1234"})).await;
        assert_eq!(response.status(), 400);
    }
    let response = delete(&app, &caller.access, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), 429, "{:?}", body_json(&response));
    assert!(header(&response, "retry-after").is_some());
    assert!(app.store.user(user.id).is_some(), "nothing deleted while locked");
}

#[tokio::test]
async fn a_missing_blank_or_unreadable_password_is_a_field_error() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    for (body, message) in [
        (json!({}), "This field is required."),
        (json!({"email": EMAIL}), "This field is required."),
        (json!({"password": ""}), "This field may not be blank."),
        (json!({"password": "   "}), "This field may not be blank."),
        (json!({"password": null}), "This field may not be null."),
        (json!({"password": ["x"]}), "Not a valid string."),
        (
            json!({"password": "x".repeat(129)}),
            "Ensure this field has no more than 128 characters.",
        ),
    ] {
        let response = delete(&app, &caller.access, body).await;
        assert_400(&response, &json!({"password": [message]}));
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
    }
    assert!(app.store.user(user.id).is_some());
    assert_eq!(app.store.throttle(EMAIL), None, "no password, no guess counted");
}

#[tokio::test]
async fn a_form_body_and_a_padded_password_are_read_as_login_reads_them() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    let authorization = bearer(&caller.access);
    let form = "password=%20Tutorial-Pw%217319%20";
    let request = event(
        "POST",
        PATH,
        &[
            ("authorization", &authorization),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        Some(form),
    );
    assert_no_content(&handle(&app, request).await);
    assert!(app.store.user(user.id).is_none());
}

#[tokio::test]
async fn it_refuses_what_mypage_refuses_before_reading_the_body() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &caller) {
        let mut headers = vec![("content-type", "text/plain")];
        headers.extend(authorization.iter().map(|value| ("authorization", value.as_str())));
        let response = handle(&app, event("POST", PATH, &headers, Some("not json"))).await;
        assert_401(&response, &expected);
    }
    assert!(app.store.user(user.id).is_some());
    // An inactive user is refused as inactive, whatever the password.
    app.store.set_active(user.id, false);
    let response = delete(&app, &caller.access, json!({"password": PASSWORD})).await;
    assert_401(&response, &user_inactive());
    assert!(app.store.user(user.id).is_some());
}

#[tokio::test]
async fn a_logged_out_session_cannot_delete_the_account() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    use shared::store::SessionStore;
    assert!(app.store.end_session(user.id, &caller.session_id).await.unwrap());
    let response = delete(&app, &caller.access, json!({"password": PASSWORD})).await;
    assert_401(&response, &token_not_valid("Token is invalid"));
    assert!(app.store.user(user.id).is_some());
}

#[tokio::test]
async fn the_route_conventions_hold() {
    let app = app();
    assert_post_route_conventions(
        |request| handle(&app, request),
        PATH,
        "User Delete",
        &["/account/user/", "/account/user/delete/x/", "/account/delete/"],
    )
    .await;
}

#[tokio::test]
async fn the_store_being_down_is_a_503_and_deletes_nothing() {
    let app = app();
    let (user, caller) = join_user(&app, EMAIL, PASSWORD).await;
    app.store.set_unavailable(true);
    assert_unavailable(&delete(&app, &caller.access, json!({"password": PASSWORD})).await);
    app.store.set_unavailable(false);
    assert!(app.store.user(user.id).is_some());
}

#[tokio::test]
async fn a_deletion_is_recorded_and_its_record_outlives_the_account() {
    use shared::store::{EventKind, EventStore, EventSubject};
    let app = app();
    let (user, tokens) = join_user(&app, EMAIL, PASSWORD).await;
    assert_eq!(
        delete(&app, &tokens.access, json!({"password": "Wrong-Guess!4402"}))
            .await
            .status(),
        400
    );
    assert!(shared::testing::recorded(&app, EventKind::AccountDeleted).is_empty());
    assert_eq!(
        delete(&app, &tokens.access, json!({"password": PASSWORD}))
            .await
            .status(),
        204
    );
    assert!(app.store.user(user.id).is_none());
    let page = app
        .store
        .events_of(&EventSubject::User(user.id), 0, None, 10)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].kind, EventKind::AccountDeleted);
    assert_eq!(page.events[0].actor, Some(user.id));
}

#[tokio::test]
async fn a_user_who_joined_through_a_provider_deletes_right_after_signing_in_and_leaves_no_link() {
    use shared::store::SocialStore;
    let app = app();
    let (user, link, tokens) = shared::testing::social_user(&app, "sun@example.com").await;
    app.store
        .age_session(user.id, &tokens.session_id, shared::account::RECENT_SIGN_IN_SECONDS + 1);
    // No password to give, and no recent sign-in: told how to proceed, nothing deleted.
    let response = delete(&app, &tokens.access, json!({})).await;
    assert_400(&response, &json!({"password": [shared::account::SIGN_IN_AGAIN]}));
    assert!(app.store.user(user.id).is_some());
    // A fresh sign-in through the provider stands for the password.
    let fresh = start_session(&app, user.id).await;
    assert_no_content(&delete(&app, &fresh.access, json!({})).await);
    assert!(app.store.user(user.id).is_none());
    assert!(
        app.store
            .find_social_link(&link.provider, &link.uid)
            .await
            .unwrap()
            .is_none(),
        "the link went with it"
    );
    assert!(app.store.social_links_of(user.id).await.unwrap().is_empty());
}
