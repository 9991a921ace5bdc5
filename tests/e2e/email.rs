//! Password reset and address verification over HTTP, black-box (also `make smoke` against a
//! deployed stack): the reference's error rows and the answers that must not tell a known
//! address from an unknown one. Following the mailed links needs the outbox: `white_box::mail`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::*;
use serde_json::json;

const SENT: &str = "Password reset e-mail has been sent.";

#[tokio::test]
async fn reset_answers_every_valid_address_alike_and_refuses_the_rest_as_the_reference() {
    for path in [PASSWORD_RESET, PASSWORD_RESET.trim_end_matches('/')] {
        post_json(path, json!({"email": unique_email()}))
            .await
            .expect(200, json!({"detail": SENT}));
    }
    post_json(PASSWORD_RESET, json!({}))
        .await
        .expect(400, json!({"email": ["This field is required."]}));
    post_json(PASSWORD_RESET, json!({"email": ""}))
        .await
        .expect(400, json!({"email": ["This field may not be blank."]}));
    post_json(PASSWORD_RESET, json!({"email": "nope"}))
        .await
        .expect(400, json!({"email": ["Enter a valid email address."]}));
}

#[tokio::test]
async fn confirm_refuses_a_missing_field_a_bad_uid_and_a_bad_token_as_the_reference() {
    post_json(PASSWORD_RESET_CONFIRM, json!({})).await.expect(
        400,
        json!({
            "new_password1": ["This field is required."],
            "new_password2": ["This field is required."],
            "uid": ["This field is required."],
            "token": ["This field is required."],
        }),
    );
    let body = |uid: &str, token: &str| json!({"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD});
    post_json(PASSWORD_RESET_CONFIRM, body("zz", "abc"))
        .await
        .expect(400, json!({"uid": ["Invalid value"]}));
    let session = new_user().await;
    let uid = URL_SAFE_NO_PAD.encode(session.pk().to_string());
    for token in ["abc", "tf8x4k-0123456789abcdef0123456789abcdef"] {
        post_json(PASSWORD_RESET_CONFIRM, body(&uid, token))
            .await
            .expect(400, json!({"token": ["Invalid value"]}));
    }
    login(&session.email).await; // the password is unchanged
}

#[tokio::test]
async fn verification_refuses_a_bad_key_and_resend_answers_every_valid_address_alike() {
    post_json(VERIFY_EMAIL, json!({}))
        .await
        .expect(400, json!({"key": ["This field is required."]}));
    for key in ["bad", "MQ:tf8x4k:AAAAAAAAAAAAAAAAAAAAAA"] {
        post_json(VERIFY_EMAIL, json!({"key": key}))
            .await
            .expect(404, json!({"detail": "Not found."}));
    }
    post_json(RESEND_EMAIL, json!({"email": unique_email()}))
        .await
        .expect(200, json!({"detail": "ok"}));
    post_json(RESEND_EMAIL, json!({"email": "nope"}))
        .await
        .expect(400, json!({"email": ["Enter a valid email address."]}));
}
