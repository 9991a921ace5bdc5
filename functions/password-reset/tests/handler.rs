//! Handler tests for POST /account/password/reset/ over the memory store and a recording mailer.

use std::time::Instant;

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use password_reset::{SENT, handle};
use shared::App;
use shared::store::MemoryStore;
use shared::testing::{
    EMAIL, PASSWORD, assert_post_route_conventions, assert_security_headers, assert_unavailable, body_json,
    create_user, header, link_parts, mailing_app_with, post_json,
};
use shared::tokens::links::{decode_uid, encode_uid};

const PATH: &str = "/account/password/reset/";

async fn reset(app: &App<MemoryStore>, body: Value, headers: &[(&str, &str)]) -> Response<Body> {
    handle(app, post_json(PATH, &body, headers)).await
}

fn sent(response: &Response<Body>) {
    assert_eq!(response.status(), 200);
    assert_security_headers(response);
    assert_eq!(body_json(response), json!({"detail": SENT}));
}

#[tokio::test]
async fn a_known_address_gets_a_link_that_resets_its_users_password() {
    let (app, mailer) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    sent(&reset(&app, json!({"email": "  User@Example.com "}), &[]).await);
    let mails = mailer.sent_to(EMAIL);
    assert_eq!(mails.len(), 1);
    let (uid, token) = link_parts(&mailer, EMAIL);
    assert_eq!(uid, encode_uid(user.id));
    assert_eq!(decode_uid(&uid), Some(user.id));
    assert!(
        app.email_keys()
            .unwrap()
            .check_reset_token(&user, &token, shared::now_unix(), 259_200),
        "the mailed token holds for the user as stored"
    );
    assert_eq!(
        mails[0].link,
        format!("http://localhost:9001/#/reset/{uid}/{token}"),
        "PASSWORD_RESET_URL's default"
    );
    assert!(mails[0].text.contains(&mails[0].link) && mails[0].html.contains(&mails[0].link));
    assert_eq!(mails[0].subject, "Reset your password");
}

#[tokio::test]
async fn an_unknown_or_inactive_address_gets_the_same_answer_and_no_mail() {
    let (app, mailer) = mailing_app_with(&[]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    let unknown = reset(&app, json!({"email": "nobody@example.com"}), &[]).await;
    sent(&unknown);
    app.store.set_active(user.id, false);
    sent(&reset(&app, json!({"email": EMAIL}), &[]).await);
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn the_mail_speaks_korean_when_the_request_prefers_it() {
    let (app, mailer) = mailing_app_with(&[]);
    create_user(&app, EMAIL, PASSWORD).await;
    sent(
        &reset(
            &app,
            json!({"email": EMAIL}),
            &[("accept-language", "ko-KR,ko;q=0.9,en;q=0.8")],
        )
        .await,
    );
    let mail = mailer.sent_to(EMAIL).pop().unwrap();
    assert_eq!(mail.subject, "비밀번호 재설정");
    assert!(mail.text.contains("72시간"), "{}", mail.text);
}

#[tokio::test]
async fn beyond_the_hourly_limit_the_answer_stays_and_no_mail_goes() {
    let (app, mailer) = mailing_app_with(&[("PASSWORD_RESET_MAX_PER_HOUR", "2")]);
    create_user(&app, EMAIL, PASSWORD).await;
    for _ in 0..4 {
        sent(&reset(&app, json!({"email": EMAIL}), &[]).await);
    }
    assert_eq!(mailer.sent_to(EMAIL).len(), 2);
    // Another address has its own count.
    create_user(&app, "other@example.com", PASSWORD).await;
    sent(&reset(&app, json!({"email": "other@example.com"}), &[]).await);
    assert_eq!(mailer.sent_to("other@example.com").len(), 1);
}

#[tokio::test]
async fn invalid_addresses_get_the_references_400s() {
    let (app, mailer) = mailing_app_with(&[]);
    for (body, expected) in [
        (json!({}), json!({"email": ["This field is required."]})),
        (json!({"email": ""}), json!({"email": ["This field may not be blank."]})),
        (
            json!({"email": "nope"}),
            json!({"email": ["Enter a valid email address."]}),
        ),
        (
            json!({"email": [EMAIL]}),
            json!({"email": ["Enter a valid email address."]}),
        ),
        (
            json!({"email": null}),
            json!({"email": ["This field may not be null."]}),
        ),
    ] {
        let response = reset(&app, body.clone(), &[]).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(body_json(&response), expected, "{body}");
    }
    assert!(mailer.sent().is_empty());
}

/// Only a known address reaches SES, so a 503 when SES refuses (sandbox, unverified sender,
/// paused account, quota) would tell registered addresses from others: the answer is the same
/// 200, and the failure an alert line for the operators' alarm, without the address.
#[tokio::test]
async fn a_mail_service_refusing_answers_as_for_any_address_and_raises_the_alert() {
    let (app, mailer) = mailing_app_with(&[]);
    create_user(&app, EMAIL, PASSWORD).await;
    mailer.set_refusing(true);
    let (logs, _guard) = shared::testing::capture_logs();
    let known = reset(&app, json!({"email": EMAIL}), &[]).await;
    let unknown = reset(&app, json!({"email": "nobody@example.com"}), &[]).await;
    for response in [&known, &unknown] {
        sent(response);
    }
    assert_eq!(
        logs.alerts(shared::logging::MAIL_SEND_FAILED).len(),
        1,
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains(EMAIL), "the address is never logged");
    // The store down is another matter: 503 for every address alike.
    mailer.set_refusing(false);
    app.store.set_unavailable(true);
    let response = reset(&app, json!({"email": "nobody@example.com"}), &[]).await;
    assert_unavailable(&response);
    assert_eq!(header(&response, "retry-after"), Some("1"));
}

#[tokio::test]
async fn known_and_unknown_addresses_both_wait_out_the_answer_floor() {
    let (app, mailer) = mailing_app_with(&[("EMAIL_ANSWER_FLOOR_MS", "150")]);
    create_user(&app, EMAIL, PASSWORD).await;
    for email in [EMAIL, "nobody@example.com"] {
        let started = Instant::now();
        sent(&reset(&app, json!({"email": email}), &[]).await);
        assert!(
            started.elapsed().as_millis() >= 150,
            "{email} answered before the floor"
        );
    }
    assert_eq!(mailer.sent().len(), 1);
}

#[tokio::test]
async fn the_route_answers_its_methods_and_nothing_else() {
    let (app, _) = mailing_app_with(&[]);
    let send = |request: Request| handle(&app, request);
    assert_post_route_conventions(
        send,
        PATH,
        "Password Reset",
        &["/account/password/", "/account/password/reset/x/"],
    )
    .await;
}

#[tokio::test]
async fn every_request_is_recorded_with_its_outcome_and_an_unknown_address_only_by_its_keyed_hash() {
    use shared::store::{EventKind, EventSubject};
    let (app, _) = mailing_app_with(&[("PASSWORD_RESET_MAX_PER_HOUR", "1")]);
    let user = create_user(&app, EMAIL, PASSWORD).await;
    let inactive = create_user(&app, "gone@example.com", PASSWORD).await;
    app.store.set_active(inactive.id, false);
    let (logs, _guard) = shared::testing::capture_logs();
    for email in [EMAIL, EMAIL, "gone@example.com", "nobody@example.com"] {
        sent(&reset(&app, json!({"email": email}), &[]).await);
    }
    let requested = shared::testing::recorded(&app, EventKind::PasswordResetRequested);
    let outcomes: Vec<(EventSubject, &str)> = requested
        .iter()
        .map(|event| (event.user.clone(), event.detail["outcome"].as_str()))
        .collect();
    let EventSubject::Address(tag) = &requested[3].user else {
        panic!("an unknown address is no user: {:?}", requested[3]);
    };
    assert_eq!(
        outcomes,
        [
            (EventSubject::User(user.id), "mailed"),
            (EventSubject::User(user.id), "limit_reached"),
            (EventSubject::User(inactive.id), "inactive"),
            (EventSubject::Address(tag.clone()), "unknown_address"),
        ]
    );
    assert!(requested.iter().all(|event| event.actor.is_none()));
    assert!(!format!("{requested:?}").contains("nobody@"));
    assert!(!logs.text().contains("nobody@"), "{}", logs.text());
    assert_eq!(logs.security_events().len(), 4);
}
