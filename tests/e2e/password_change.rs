//! POST /account/password/change/ (contract §4 password change, §5): the new password, the
//! sessions it ends and the one it keeps, every error row, and the §2 401s.

use e2e::*;
use serde_json::{Value, json};

e2e::protected_route_401s!(Protected::PasswordChange);

fn saved() -> Value {
    json!({"detail": "New password has been saved."})
}

fn bad_credentials() -> Value {
    json!({"non_field_errors": ["Unable to log in with provided credentials."]})
}

const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const TOO_COMMON: &str = "This password is too common.";
const NUMERIC: &str = "This password is entirely numeric.";

/// The standard password changed to `password`.
fn both(password: &str) -> Value {
    password_change_body(PASSWORD, password)
}

#[tokio::test]
async fn the_new_password_replaces_the_old_one() {
    let session = new_user().await;
    change_password(&session.bearer(), new_password_body())
        .await
        .expect(200, saved());
    post_json(LOGIN, json!({"email": session.email, "password": PASSWORD}))
        .await
        .expect(400, bad_credentials());
    let again = login_with(&session.email, NEW_PASSWORD).await;
    assert_eq!(again.user, session.user);
}

#[tokio::test]
async fn the_session_that_made_the_change_keeps_working() {
    let session = new_user().await;
    change_password(&session.bearer(), new_password_body())
        .await
        .expect(200, saved());
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    let (access, next) = rotated(&refresh(&session.refresh).await);
    assert_greeted(&mypage(&bearer(&access)).await, &session.email);
    logout(&next)
        .await
        .expect(200, json!({"detail": "Successfully logged out."}));
}

#[tokio::test]
async fn every_other_session_is_revoked_at_once() {
    let joined = new_user().await;
    let other = login(&joined.email).await;
    let (other_access, other_refresh) = rotated(&refresh(&other.refresh).await);
    let changer = login(&joined.email).await;
    change_password(&changer.bearer(), new_password_body())
        .await
        .expect(200, saved());
    for access in [&joined.access, &other.access, &other_access] {
        mypage(&bearer(access)).await.expect_challenge(access_invalid());
    }
    for token in [&joined.refresh, &other_refresh] {
        refresh(token).await.expect_challenge(blacklisted());
    }
    assert_greeted(&mypage(&changer.bearer()).await, &joined.email);
}

#[tokio::test]
async fn sessions_started_after_the_change_work() {
    let session = new_user().await;
    change_password(&session.bearer(), new_password_body())
        .await
        .expect(200, saved());
    let later = login_with(&session.email, NEW_PASSWORD).await;
    assert_greeted(&mypage(&later.bearer()).await, &session.email);
    rotated(&refresh(&later.refresh).await);
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
}

#[tokio::test]
async fn the_same_session_can_change_the_password_again() {
    let session = new_user().await;
    let other = login(&session.email).await;
    change_password(&session.bearer(), new_password_body())
        .await
        .expect(200, saved());
    change_password(
        &session.bearer(),
        password_change_body(NEW_PASSWORD, "Third-Pw!two-7730"),
    )
    .await
    .expect(200, saved());
    login_with(&session.email, "Third-Pw!two-7730").await;
    mypage(&other.bearer()).await.expect_challenge(access_invalid());
}

#[tokio::test]
async fn the_right_old_password_is_accepted() {
    let session = new_user().await;
    let body = json!({
        "old_password": PASSWORD,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    });
    change_password(&session.bearer(), body).await.expect(200, saved());
    login_with(&session.email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_html_form_changes_the_password() {
    let session = new_user().await;
    let form = format!(
        "old_password={old}&new_password1={pw}&new_password2={pw}",
        old = form_value(PASSWORD),
        pw = form_value(NEW_PASSWORD)
    );
    post_form(PASSWORD_CHANGE, &form, &[("authorization", &session.bearer())])
        .await
        .expect(200, saved());
    login_with(&session.email, NEW_PASSWORD).await;
}

// --- The error rows ------------------------------------------------------------------------

/// Asserts the refusal, then that nothing changed: the old password and the other
/// session still work.
async fn refused(body: Value, expected: Value) {
    let session = new_user().await;
    let other = login(&session.email).await;
    change_password(&session.bearer(), body).await.expect(400, expected);
    login(&session.email).await;
    assert_greeted(&mypage(&other.bearer()).await, &session.email);
}

#[tokio::test]
async fn an_empty_object_names_the_old_and_both_new_passwords() {
    refused(
        json!({}),
        json!({
            "old_password": ["This field is required."],
            "new_password1": ["This field is required."],
            "new_password2": ["This field is required."],
        }),
    )
    .await;
}

#[tokio::test]
async fn new_passwords_that_differ_are_refused_with_a_typographic_apostrophe() {
    let session = new_user().await;
    let body = json!({"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": "Different-Pw!4410"});
    let answer = change_password(&session.bearer(), body).await;
    answer.expect(
        400,
        json!({"new_password2": ["The two password fields didn\u{2019}t match."]}),
    );
    assert!(answer.text.contains('\u{2019}'), "raw U+2019: {}", answer.text);
    login(&session.email).await;
}

#[tokio::test]
async fn a_short_password_is_refused() {
    refused(both("Xq7!vR2"), json!({"new_password2": [TOO_SHORT]})).await;
}

#[tokio::test]
async fn a_common_password_is_refused() {
    refused(both("password"), json!({"new_password2": [TOO_COMMON]})).await;
}

#[tokio::test]
async fn a_numeric_password_is_refused() {
    refused(both("83920174625"), json!({"new_password2": [NUMERIC]})).await;
}

#[tokio::test]
async fn every_rule_that_applies_is_listed_in_order() {
    refused(
        both("1234567"),
        json!({"new_password2": [TOO_SHORT, TOO_COMMON, NUMERIC]}),
    )
    .await;
}

#[tokio::test]
async fn a_password_like_the_email_is_refused() {
    let email = format!("johnsmithers.{}@example.com", random_hex());
    let session = join(&email).await;
    change_password(&session.bearer(), both("johnsmithers1")).await.expect(
        400,
        json!({"new_password2": ["The password is too similar to the email."]}),
    );
    login(&email).await;
}

/// The deployed default (ASVS 5.0 §6.2): an access token alone does not set a new password.
#[tokio::test]
async fn without_the_old_password_nothing_changes() {
    refused(
        json!({"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
        json!({"old_password": ["This field is required."]}),
    )
    .await;
}

#[tokio::test]
async fn a_wrong_old_password_is_refused() {
    refused(
        json!({
            "old_password": "Not-The-Pw!1234",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        }),
        json!({"old_password": ["Your old password was entered incorrectly. Please enter it again."]}),
    )
    .await;
}

#[tokio::test]
async fn authentication_comes_before_the_body() {
    post_json(PASSWORD_CHANGE, json!({}))
        .await
        .expect_challenge(no_credentials());
    post_raw(PASSWORD_CHANGE, "text/plain", "x", &[])
        .await
        .expect_challenge(no_credentials());
    let session = new_user().await;
    change_password(&session.refresh, json!({}))
        .await
        .expect_challenge(no_credentials());
    change_password(&bearer(&session.refresh), json!({}))
        .await
        .expect_challenge(access_wrong_type());
}
