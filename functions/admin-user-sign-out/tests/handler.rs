//! Handler tests for POST /account/admin/users/{pk}/sign-out/ over the memory store (issue 28):
//! every session of the user ends at once, counted, recorded; the admin rules hold.

use lambda_http::{Body, Response};
use serde_json::json;

use admin_user_sign_out::{ENDPOINT, handle};
use shared::App;
use shared::admin::INVALID_PK;
use shared::store::{EventKind, EventSubject, MemoryStore};
use shared::testing::{
    PASSWORD, access_denial, app, assert_400, assert_not_found, assert_post_route_conventions, assert_unavailable,
    bearer, body_json, event, join_user, recorded, start_session,
};

async fn sign_out(app: &App<MemoryStore>, access: &str, pk: impl std::fmt::Display) -> Response<Body> {
    let path = format!("/account/admin/users/{pk}/sign-out/");
    handle(app, event("POST", &path, &[("authorization", &bearer(access))], None)).await
}

#[tokio::test]
async fn every_session_of_the_user_ends_at_once_and_the_count_and_actor_are_recorded() {
    let app = app();
    let (staff, staff_tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    let (user, first) = join_user(&app, "ada@example.com", PASSWORD).await;
    let second = start_session(&app, user.id).await;
    let response = sign_out(&app, &staff_tokens.access, user.id).await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_eq!(body_json(&response), json!({"revoked": 2}));
    for tokens in [&first, &second] {
        assert!(
            access_denial(&app, &tokens.access).await.is_some(),
            "refused from its next use"
        );
    }
    let events = recorded(&app, EventKind::AdminSignOut);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].user.clone(), events[0].actor),
        (EventSubject::User(user.id), Some(staff.id))
    );
    assert_eq!(events[0].detail["sessions"], "2");
    assert_eq!(
        access_denial(&app, &staff_tokens.access).await,
        None,
        "the staff's own session stays"
    );
    // Nothing left to end: 0, not an error.
    assert_eq!(
        body_json(&sign_out(&app, &staff_tokens.access, user.id).await),
        json!({"revoked": 0})
    );
}

#[tokio::test]
async fn unknown_malformed_forbidden_and_an_outage_each_get_their_answer() {
    let app = app();
    let (staff, staff_tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    let (root, root_tokens) = join_user(&app, "root@example.com", PASSWORD).await;
    app.store.set_superuser(root.id, true);
    assert_not_found(&sign_out(&app, &staff_tokens.access, 999_999).await);
    assert_400(
        &sign_out(&app, &staff_tokens.access, "abc").await,
        &json!({"pk": [INVALID_PK]}),
    );
    let forbidden = sign_out(&app, &staff_tokens.access, root.id).await;
    assert_eq!(forbidden.status(), 403, "staff cannot sign a superuser out");
    assert_eq!(access_denial(&app, &root_tokens.access).await, None);
    let plain = join_user(&app, "plain@example.com", PASSWORD).await.1;
    assert_eq!(sign_out(&app, &plain.access, staff.id).await.status(), 403);
    app.store.set_unavailable(true);
    assert_unavailable(&sign_out(&app, &staff_tokens.access, root.id).await);
}

#[tokio::test]
async fn the_route_answers_post_alone_on_both_spellings() {
    assert_post_route_conventions(
        |request| async move { handle(&app(), request).await },
        "/account/admin/users/7/sign-out/",
        ENDPOINT.name,
        &["/account/admin/users/7/", "/account/admin/users/7/sign-in/"],
    )
    .await;
}
