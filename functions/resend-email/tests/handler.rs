//! Handler tests for POST /account/join/resend-email/ over the memory store and a recording
//! mailer: the link it mails verifies the address through verify-email.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use resend_email::handle;
use shared::App;
use shared::store::MemoryStore;
use shared::testing::{
    EMAIL, PASSWORD, assert_post_route_conventions, assert_security_headers, body_json, create_user, mailing_app_with,
    post_json,
};

const PATH: &str = "/account/join/resend-email/";

/// Addresses are verified (optional): the route has something to send.
const VERIFYING: (&str, &str) = ("EMAIL_VERIFICATION", "optional");

async fn resend(app: &App<MemoryStore>, body: Value, headers: &[(&str, &str)]) -> Response<Body> {
    handle(app, post_json(PATH, &body, headers)).await
}

fn ok(response: &Response<Body>) {
    assert_eq!(response.status(), 200);
    assert_security_headers(response);
    assert_eq!(body_json(response), json!({"detail": "ok"}));
}

#[tokio::test]
async fn an_unverified_address_gets_a_link_that_verifies_it() {
    let (app, mailer) = mailing_app_with(&[VERIFYING]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    ok(&resend(&app, json!({"email": EMAIL}), &[("accept-language", "ko")]).await);
    let mail = mailer.sent_to(EMAIL).pop().expect("a confirmation mail");
    assert_eq!(mail.subject, "이메일 주소를 확인해 주세요");
    let key = mail
        .link
        .strip_prefix("http://localhost:9001/#/verify/")
        .expect("EMAIL_CONFIRM_URL's default");
    let verified = verify_email::handle(
        &app,
        post_json("/account/join/verify-email/", &json!({"key": key}), &[]),
    )
    .await;
    assert_eq!(verified.status(), 200);
    assert!(app.store.user(user.id).unwrap().email_verified);
    // Verified: the same answer, nothing more is sent.
    ok(&resend(&app, json!({"email": EMAIL}), &[]).await);
    assert_eq!(mailer.sent_to(EMAIL).len(), 1);
}

/// With verification off (the tutorial's default) nobody is asked to confirm an address, so a
/// "confirm your address" mail to any registered address could only be spam.
#[tokio::test]
async fn without_verification_nothing_is_mailed_and_the_answer_is_the_same() {
    let (app, mailer) = mailing_app_with(&[]);
    create_user(&app, EMAIL, PASSWORD).await;
    for email in [EMAIL, "nobody@example.com"] {
        ok(&resend(&app, json!({"email": email}), &[]).await);
    }
    assert!(mailer.sent().is_empty(), "{:?}", mailer.sent());
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_every_address_its_hourly_limit() {
    let (app, mailer) = mailing_app_with(&[VERIFYING, ("EMAIL_CONFIRM_MAX_PER_HOUR", "2")]);
    create_user(&app, EMAIL, PASSWORD).await;
    ok(&resend(&app, json!({"email": "nobody@example.com"}), &[]).await);
    assert!(mailer.sent().is_empty());
    for _ in 0..4 {
        ok(&resend(&app, json!({"email": EMAIL}), &[]).await);
    }
    assert_eq!(mailer.sent_to(EMAIL).len(), 2);
}

#[tokio::test]
async fn invalid_addresses_get_the_references_400s_and_a_refusing_mail_service_the_same_200() {
    let (app, mailer) = mailing_app_with(&[VERIFYING]);
    for (body, expected) in [
        (json!({}), json!({"email": ["This field is required."]})),
        (
            json!({"email": "nope"}),
            json!({"email": ["Enter a valid email address."]}),
        ),
    ] {
        let response = resend(&app, body.clone(), &[]).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(body_json(&response), expected, "{body}");
    }
    create_user(&app, EMAIL, PASSWORD).await;
    mailer.set_refusing(true);
    let (logs, _guard) = shared::testing::capture_logs();
    for email in [EMAIL, "nobody@example.com"] {
        let response = resend(&app, json!({"email": email}), &[]).await;
        assert_eq!(response.status(), 200, "{email}");
        assert_eq!(body_json(&response), json!({"detail": "ok"}));
    }
    assert_eq!(
        logs.alerts(shared::logging::MAIL_SEND_FAILED).len(),
        1,
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains(EMAIL), "the address is never logged");
}

#[tokio::test]
async fn the_route_answers_its_methods_and_nothing_else() {
    let (app, _) = mailing_app_with(&[VERIFYING]);
    let send = |request: Request| handle(&app, request);
    assert_post_route_conventions(
        send,
        PATH,
        "Resend Email Verification",
        &["/account/join/resend/", "/account/join/resend-email/x/"],
    )
    .await;
}
