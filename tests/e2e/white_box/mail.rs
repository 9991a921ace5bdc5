//! The mailed links followed end to end: the stack's file mailer writes every message to
//! `E2E_OUTBOX_DIR`, and these tests read it as a user reads their mailbox.

use e2e::*;
use serde_json::json;
use shared::store::EmailStore;
use shared::tokens::links::encode_uid;

const DONE: &str = "Password has been reset with the new password.";

/// The uid and token of a reset link (`…/#/reset/<uid>/<token>`).
fn reset_parts(link: &str) -> (String, String) {
    let mut parts = link.rsplit('/');
    let token = parts.next().expect("token").to_owned();
    (parts.next().expect("uid").to_owned(), token)
}

fn confirm_body(uid: &str, token: &str, password: &str) -> serde_json::Value {
    json!({"uid": uid, "token": token, "new_password1": password, "new_password2": password})
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_ends_every_session() {
    let session = new_user().await;
    post_json_with(
        PASSWORD_RESET,
        json!({"email": session.email}),
        &[("accept-language", "ko-KR,ko;q=0.9")],
    )
    .await
    .expect(200, json!({"detail": "Password reset e-mail has been sent."}));
    let mails = mails_to(&session.email, Mailed::Reset);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.contains("Content-Type: multipart/alternative"), "{mail}");
    assert!(mail.contains("Content-Type: text/html; charset=utf-8"), "{mail}");
    assert!(mail.contains("Subject: =?utf-8?"), "a Korean subject, encoded: {mail}");
    let (uid, token) = reset_parts(&link_in(mail));
    assert_eq!(uid, encode_uid(session.pk()));

    post_json(PASSWORD_RESET_CONFIRM, confirm_body(&uid, &token, NEW_PASSWORD))
        .await
        .expect(200, json!({"detail": DONE}));
    assert_eq!(mypage(&session.bearer()).await.status, 401, "the old session ended");
    assert_eq!(refresh(&session.refresh).await.status, 401);
    login_with(&session.email, NEW_PASSWORD).await;
    // Reused: refused, and the password stays.
    post_json(PASSWORD_RESET_CONFIRM, confirm_body(&uid, &token, "Third-Pw!4242"))
        .await
        .expect(400, json!({"token": ["Invalid value"]}));
    login_with(&session.email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn racing_confirmations_of_one_link_let_exactly_one_through() {
    let session = new_user().await;
    assert_eq!(
        post_json(PASSWORD_RESET, json!({"email": session.email})).await.status,
        200
    );
    let (uid, token) = reset_parts(&link_in(&mails_to(&session.email, Mailed::Reset)[0]));
    let passwords = [
        "Racer-One-Pw!11",
        "Racer-Two-Pw!22",
        "Racer-Three-Pw!33",
        "Racer-Four-Pw!44",
    ];
    let answers = futures::future::join_all(
        passwords
            .iter()
            .map(|password| post_json(PASSWORD_RESET_CONFIRM, confirm_body(&uid, &token, password))),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    let winners: Vec<&str> = answers
        .iter()
        .zip(passwords)
        .filter(|(answer, _)| answer.status == 200)
        .map(|(_, password)| password)
        .collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    for answer in answers.iter().filter(|answer| answer.status != 200) {
        answer.expect(400, json!({"token": ["Invalid value"]}));
    }
    login_with(&session.email, winners[0]).await;
}

#[tokio::test]
async fn an_expired_token_is_refused_and_a_fresh_one_made_alike_is_not() {
    let session = new_user().await;
    let store = store().await;
    let user = store.find_by_id(session.pk()).await.expect("store").expect("the user");
    let keys = stack_keys().email.clone().expect("the stack's link keys");
    let timeout = 259_200; // the stack's PASSWORD_RESET_TIMEOUT (Django's default)
    let now = shared::now_unix();
    let uid = encode_uid(user.id);
    let expired = keys.reset_token(&user, now - timeout - 1);
    post_json(PASSWORD_RESET_CONFIRM, confirm_body(&uid, &expired, NEW_PASSWORD))
        .await
        .expect(400, json!({"token": ["Invalid value"]}));
    // The same making, a minute inside the timeout: accepted, so the refusal above was the clock.
    let fresh = keys.reset_token(&user, now - timeout + 60);
    post_json(PASSWORD_RESET_CONFIRM, confirm_body(&uid, &fresh, NEW_PASSWORD))
        .await
        .expect(200, json!({"detail": DONE}));
}

#[tokio::test]
async fn an_address_gets_its_hourly_limit_of_reset_mails_and_the_same_answer_beyond_it() {
    let session = new_user().await;
    for _ in 0..4 {
        post_json(PASSWORD_RESET, json!({"email": session.email}))
            .await
            .expect(200, json!({"detail": "Password reset e-mail has been sent."}));
    }
    assert_eq!(
        mails_to(&session.email, Mailed::Reset).len(),
        3,
        "PASSWORD_RESET_MAX_PER_HOUR (3)"
    );
}

#[tokio::test]
async fn a_confirmation_link_verifies_the_address_once() {
    let session = new_user().await;
    post_json(RESEND_EMAIL, json!({"email": session.email}))
        .await
        .expect(200, json!({"detail": "ok"}));
    let mails = mails_to(&session.email, Mailed::Confirmation);
    assert_eq!(
        mails.len(),
        2,
        "the stack runs with EMAIL_VERIFICATION=optional: join mailed one, resend another"
    );
    let link = link_in(&mails[1]);
    let key = link.rsplit('/').next().expect("key");
    post_json(VERIFY_EMAIL, json!({"key": key}))
        .await
        .expect(200, json!({"detail": "ok"}));
    assert_eq!(
        user_attribute(session.pk(), "email_verified").await,
        Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
    );
    post_json(VERIFY_EMAIL, json!({"key": key}))
        .await
        .expect(404, json!({"detail": "Not found."}));
    // Verified: resend answers alike and sends nothing.
    assert_eq!(
        post_json(RESEND_EMAIL, json!({"email": session.email})).await.status,
        200
    );
    assert_eq!(mails_to(&session.email, Mailed::Confirmation).len(), 2);
}
