//! Handler tests for POST /account/admin/users/{pk}/password-reset/ over the memory store
//! (issue 28): the user's own reset mail, within the same hourly limit, recorded; what the
//! user's route keeps quiet, staff are told.

use lambda_http::{Body, Response};
use serde_json::json;

use admin_user_password_reset::{ENDPOINT, INACTIVE, SENT, handle};
use shared::App;
use shared::store::{EventKind, MemoryStore};
use shared::testing::{
    PASSWORD, app, assert_not_found, assert_post_route_conventions, assert_unavailable, bearer, body_json, event,
    header, join_user, link_parts, mailing_app_with, recorded,
};

async fn reset(app: &App<MemoryStore>, access: &str, pk: u64) -> Response<Body> {
    let path = format!("/account/admin/users/{pk}/password-reset/");
    handle(app, event("POST", &path, &[("authorization", &bearer(access))], None)).await
}

#[tokio::test]
async fn the_user_gets_their_own_reset_mail_within_the_same_hourly_limit() {
    let (app, mailer) = mailing_app_with(&[("PASSWORD_RESET_MAX_PER_HOUR", "2")]);
    let (staff, staff_tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    let (user, _) = join_user(&app, "ada@example.com", PASSWORD).await;
    let response = reset(&app, &staff_tokens.access, user.id).await;
    assert_eq!(response.status(), 202, "{}", body_json(&response));
    assert_eq!(body_json(&response), json!({"detail": SENT}));
    let (uid, token) = link_parts(&mailer, "ada@example.com");
    assert!(
        !uid.is_empty() && !token.is_empty(),
        "a reset link, as the user's own request mails"
    );
    assert!(
        shared::testing::password_is(&app, user.id, PASSWORD),
        "the password stays until the link is used"
    );
    // The same per-address limit as the user's own requests.
    assert_eq!(reset(&app, &staff_tokens.access, user.id).await.status(), 202);
    let limited = reset(&app, &staff_tokens.access, user.id).await;
    assert_eq!(limited.status(), 429, "{}", body_json(&limited));
    assert!(header(&limited, "retry-after").is_some());
    assert_eq!(mailer.sent_to("ada@example.com").len(), 2);
    let outcomes: Vec<String> = recorded(&app, EventKind::AdminPasswordReset)
        .iter()
        .map(|event| event.detail["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["mailed", "mailed", "limit_reached"]);
}

#[tokio::test]
async fn an_inactive_user_gets_no_mail_a_refusing_mail_service_is_503_and_strangers_403() {
    let (app, mailer) = mailing_app_with(&[]);
    let (staff, staff_tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    let (user, tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    app.store.set_active(user.id, false);
    let inactive = reset(&app, &staff_tokens.access, user.id).await;
    assert_eq!(
        (inactive.status(), body_json(&inactive)),
        (400.try_into().unwrap(), json!({"detail": INACTIVE}))
    );
    app.store.set_active(user.id, true);
    mailer.set_refusing(true);
    assert_unavailable(&reset(&app, &staff_tokens.access, user.id).await);
    assert_eq!(reset(&app, &tokens.access, user.id).await.status(), 403);
    assert_not_found(&reset(&app, &staff_tokens.access, 999_999).await);
}

#[tokio::test]
async fn the_route_answers_post_alone_on_both_spellings() {
    assert_post_route_conventions(
        |request| async move { handle(&app(), request).await },
        "/account/admin/users/7/password-reset/",
        ENDPOINT.name,
        &["/account/admin/users/7/", "/account/admin/users/7/password/"],
    )
    .await;
}
