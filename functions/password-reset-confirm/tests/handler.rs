//! Handler tests for POST /account/password/reset/confirm/ over the memory store: the link that
//! password-reset mails (through a recording mailer) sets a new password once.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use password_reset_confirm::{INVALID_VALUE, RESET_DONE, handle};
use shared::App;
use shared::auth::authenticate;
use shared::auth::password::TOO_SHORT;
use shared::store::{EmailStore, LoginThrottleStore, MemoryStore, ThrottleRecord};
use shared::testing::{
    EMAIL, RecordingMailer, assert_400, assert_post_route_conventions, assert_security_headers, assert_unavailable,
    bearer, body_json, create_user, event, join_user, link_parts, mailing_app_with, password_is, post_json,
};
use shared::tokens::links::encode_uid;

const PATH: &str = "/account/password/reset/confirm/";
const OLD: &str = "Tutorial-Pw!7319";
const NEW: &str = "Brand-New-Pw!4242";

async fn confirm(app: &App<MemoryStore>, body: Value) -> Response<Body> {
    handle(app, post_json(PATH, &body, &[])).await
}

/// Asks password-reset for a link to `email` and returns its uid and token.
async fn mailed_link(app: &App<MemoryStore>, mailer: &RecordingMailer, email: &str) -> (String, String) {
    let response = password_reset::handle(
        app,
        post_json("/account/password/reset/", &json!({"email": email}), &[]),
    )
    .await;
    assert_eq!(response.status(), 200);
    link_parts(mailer, email)
}

fn body(uid: &str, token: &str, password1: &str, password2: &str) -> Value {
    json!({"uid": uid, "token": token, "new_password1": password1, "new_password2": password2})
}

#[tokio::test]
async fn the_mailed_link_sets_the_password_ends_every_session_and_forgets_wrong_guesses() {
    let (app, mailer) = mailing_app_with(&[]);
    let (user, session) = join_user(&app, EMAIL, OLD).await;
    let guessed = ThrottleRecord {
        failures: 3,
        version: 1,
        expires_at: shared::now_unix() + 3600,
        ..ThrottleRecord::default()
    };
    assert!(
        app.store
            .replace_throttle_record(EMAIL, 0, &guessed)
            .await
            .unwrap()
            .is_ok()
    );
    let (uid, token) = mailed_link(&app, &mailer, EMAIL).await;
    let response = confirm(&app, body(&uid, &token, NEW, NEW)).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert_eq!(body_json(&response), json!({"detail": RESET_DONE}));
    assert!(password_is(&app, user.id, NEW) && !password_is(&app, user.id, OLD));
    let request = event(
        "GET",
        "/account/mypage/",
        &[("authorization", &bearer(&session.access))],
        None,
    );
    assert!(authenticate(&app, &request).await.is_err(), "the old session ended");
    assert_eq!(app.store.throttle(EMAIL), None, "the wrong guesses are forgotten");
    assert!(
        app.store.user(user.id).unwrap().email_verified,
        "the link proved the address"
    );

    // Spent: the token signs the old hash.
    let again = confirm(&app, body(&uid, &token, "Another-Pw!5150", "Another-Pw!5150")).await;
    assert_400(&again, &json!({"token": [INVALID_VALUE]}));
    assert!(password_is(&app, user.id, NEW));
}

#[tokio::test]
async fn a_confirmation_that_read_the_user_before_another_landed_writes_nothing() {
    let (app, _) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, OLD).await;
    // Both read the user as it was; the store's condition on the old hash lets one through.
    assert!(app.store.reset_password(&user, "$argon2id$first", &[]).await.unwrap());
    assert!(!app.store.reset_password(&user, "$argon2id$second", &[]).await.unwrap());
    assert_eq!(app.store.user(user.id).unwrap().password_hash, "$argon2id$first");
}

#[tokio::test]
async fn racing_confirmations_of_one_token_let_exactly_one_through() {
    let (app, mailer) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, OLD).await;
    let (uid, token) = mailed_link(&app, &mailer, EMAIL).await;
    let passwords = ["Racer-One-Pw!11", "Racer-Two-Pw!22", "Racer-Three-Pw!33"];
    let answers = futures::future::join_all(
        passwords
            .iter()
            .map(|password| confirm(&app, body(&uid, &token, password, password))),
    )
    .await;
    let winners: Vec<&str> = answers
        .iter()
        .zip(passwords)
        .filter(|(answer, _)| answer.status() == 200)
        .map(|(_, password)| password)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers.iter().map(|a| a.status()).collect::<Vec<_>>()
    );
    assert!(password_is(&app, user.id, winners[0]));
}

#[tokio::test]
async fn an_expired_a_forged_or_another_users_token_is_refused() {
    let (app, mailer) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, OLD).await;
    let other = create_user(&app, "other@example.com", OLD).await;
    let now = shared::now_unix();
    let expired = app.email_keys().unwrap().reset_token(&user, now - 259_200 - 1);
    let uid = encode_uid(user.id);
    assert_400(
        &confirm(&app, body(&uid, &expired, NEW, NEW)).await,
        &json!({"token": [INVALID_VALUE]}),
    );
    let almost = app.email_keys().unwrap().reset_token(&user, now - 259_200 + 60);
    assert_eq!(
        confirm(&app, body(&uid, &almost, NEW, NEW)).await.status(),
        200,
        "still within the timeout"
    );
    let (_, token) = mailed_link(&app, &mailer, "other@example.com").await;
    assert_400(
        &confirm(&app, body(&uid, &token, NEW, NEW)).await,
        &json!({"token": [INVALID_VALUE]}),
    );
    assert!(password_is(&app, other.id, OLD));
    assert_400(
        &confirm(&app, body(&uid, "abc", NEW, NEW)).await,
        &json!({"token": [INVALID_VALUE]}),
    );
}

#[tokio::test]
async fn a_short_timeout_setting_shortens_the_tokens_life() {
    let (app, _) = mailing_app_with(&[("PASSWORD_RESET_TIMEOUT", "60")]);
    let user = create_user(&app, EMAIL, OLD).await;
    let token = app.email_keys().unwrap().reset_token(&user, shared::now_unix() - 61);
    assert_400(
        &confirm(&app, body(&encode_uid(user.id), &token, NEW, NEW)).await,
        &json!({"token": [INVALID_VALUE]}),
    );
}

#[tokio::test]
async fn the_references_400s_in_its_order() {
    let (app, mailer) = mailing_app_with(&[]);
    create_user(&app, EMAIL, OLD).await;
    assert_400(
        &confirm(&app, json!({})).await,
        &json!({
            "new_password1": ["This field is required."],
            "new_password2": ["This field is required."],
            "uid": ["This field is required."],
            "token": ["This field is required."],
        }),
    );
    assert_400(
        &confirm(&app, body("", "", "", "")).await,
        &json!({
            "new_password1": ["This field may not be blank."],
            "new_password2": ["This field may not be blank."],
            "uid": ["This field may not be blank."],
            "token": ["This field may not be blank."],
        }),
    );
    for uid in ["zz", "MA", "OTk5", "x".repeat(200).as_str()] {
        // A bad uid is answered before the token and the passwords.
        assert_400(
            &confirm(&app, body(uid, "abc", "short", "other")).await,
            &json!({"uid": [INVALID_VALUE]}),
        );
    }
    let (uid, token) = mailed_link(&app, &mailer, EMAIL).await;
    assert_400(
        &confirm(&app, body(&uid, "abc", "short", "other")).await,
        &json!({"token": [INVALID_VALUE]}),
    );
    assert_400(
        &confirm(&app, body(&uid, &token, NEW, "Brand-New-Pw!4243")).await,
        &json!({"new_password2": ["The two password fields didn\u{2019}t match."]}),
    );
    assert_400(
        &confirm(&app, body(&uid, &token, "short", "short")).await,
        &json!({"new_password2": [TOO_SHORT]}),
    );
    assert_400(
        &confirm(&app, body(&uid, &token, "12345678", "12345678")).await,
        &json!({"new_password2": ["This password is too common.", "This password is entirely numeric."]}),
    );
    assert_400(
        &confirm(&app, body(&uid, &token, "user@example.com1", "user@example.com1")).await,
        &json!({"new_password2": ["The password is too similar to the email."]}),
    );
    let long = "x".repeat(129);
    assert_400(
        &confirm(&app, body(&uid, &token, &long, &long)).await,
        &json!({
            "new_password1": ["Ensure this field has no more than 128 characters."],
            "new_password2": ["Ensure this field has no more than 128 characters."],
        }),
    );
    // None of them spent the token.
    assert_eq!(confirm(&app, body(&uid, &token, NEW, NEW)).await.status(), 200);
}

#[tokio::test]
async fn an_inactive_user_cannot_reset_and_a_store_down_answers_503() {
    let (app, mailer) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, OLD).await;
    let (uid, token) = mailed_link(&app, &mailer, EMAIL).await;
    app.store.set_active(user.id, false);
    assert_400(
        &confirm(&app, body(&uid, &token, NEW, NEW)).await,
        &json!({"token": [INVALID_VALUE]}),
    );
    app.store.set_active(user.id, true);
    app.store.set_unavailable(true);
    assert_unavailable(&confirm(&app, body(&uid, &token, NEW, NEW)).await);
}

#[tokio::test]
async fn the_route_answers_its_methods_and_nothing_else() {
    let (app, _) = mailing_app_with(&[]);
    let send = |request: Request| handle(&app, request);
    assert_post_route_conventions(
        send,
        PATH,
        "Password Reset Confirm",
        &["/account/password/reset/", "/account/password/reset/confirm/x/"],
    )
    .await;
}

#[tokio::test]
async fn a_reset_is_recorded_once_and_a_refused_token_records_nothing() {
    use shared::store::{EventKind, EventSubject};
    let (app, mailer) = mailing_app_with(&[]);
    let (user, _) = join_user(&app, EMAIL, OLD).await;
    let (uid, token) = mailed_link(&app, &mailer, EMAIL).await;
    assert_eq!(confirm(&app, body(&uid, &token, NEW, NEW)).await.status(), 200);
    assert_eq!(confirm(&app, body(&uid, &token, NEW, NEW)).await.status(), 400, "spent");
    let done = shared::testing::recorded(&app, EventKind::PasswordResetDone);
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].user.clone(), done[0].actor),
        (EventSubject::User(user.id), Some(user.id))
    );
}
