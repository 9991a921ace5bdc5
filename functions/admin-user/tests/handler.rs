//! Handler tests for GET|PATCH|DELETE /account/admin/users/{pk}/ over the memory store (issue
//! 28): the admin view (never a hash), changes under the admin rules with their events, a
//! deactivation that ends every session at once, deletion, and the 400/403/404/409 answers.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use admin_user::{ENDPOINT, handle};
use shared::App;
use shared::admin::{
    self, Actor, INVALID_PK, LAST_SUPERUSER, Occasion, SELF_DEACTIVATION, SELF_DELETION, SELF_DEMOTION,
};
use shared::http::ApiError;
use shared::store::{AdminChanges, AdminStore, EventKind, EventSubject, MemoryStore, SessionOrigin, UserStore};
use shared::testing::{
    PASSWORD, SessionTokens, access_denial, app, assert_400, assert_no_content, assert_not_found,
    assert_security_headers, bearer, body_json, create_user, event, header, join_user, recorded,
};

const FORBIDDEN: &str = "You do not have permission to perform this action.";

fn path(pk: impl std::fmt::Display) -> String {
    format!("/account/admin/users/{pk}/")
}

async fn call(
    app: &App<MemoryStore>,
    method: &str,
    access: &str,
    pk: impl std::fmt::Display,
    body: Option<Value>,
) -> Response<Body> {
    let authorization = bearer(access);
    let mut headers = vec![("authorization", authorization.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let body = body.map(|body| body.to_string());
    handle(app, event(method, &path(pk), &headers, body.as_deref())).await
}

/// A superuser's and a plain staff user's sessions, and a user to act on (with a session).
struct Admins {
    app: App<MemoryStore>,
    root: SessionTokens,
    root_id: u64,
    staff: SessionTokens,
    target: u64,
    target_tokens: SessionTokens,
}

async fn admins() -> Admins {
    let app = app();
    let (root, root_tokens) = join_user(&app, "root@example.com", PASSWORD).await;
    app.store.set_superuser(root.id, true);
    let (staff, staff_tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    let (target, target_tokens) = join_user(&app, "ada@example.com", PASSWORD).await;
    Admins {
        app,
        root: root_tokens,
        root_id: root.id,
        staff: staff_tokens,
        target: target.id,
        target_tokens,
    }
}

fn assert_status(response: &Response<Body>, status: u16, detail: &str) {
    assert_eq!(response.status(), status, "{}", body_json(response));
    assert_eq!(body_json(response), json!({"detail": detail}));
    assert_security_headers(response);
}

#[tokio::test]
async fn staff_see_every_field_but_the_hash_with_the_users_sessions_and_latest_events() {
    let a = admins().await;
    call(
        &a.app,
        "PATCH",
        &a.root.access,
        a.target,
        Some(json!({"last_name": "Lovelace"})),
    )
    .await;
    let response = call(&a.app, "GET", &a.staff.access, a.target, None).await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_eq!(header(&response, "allow"), Some(ENDPOINT.allow()));
    let body = body_json(&response);
    let keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "pk",
            "email",
            "first_name",
            "last_name",
            "gender",
            "date_of_birth",
            "is_active",
            "is_staff",
            "is_superuser",
            "email_verified",
            "date_joined",
            "last_login",
            "sessions",
            "events"
        ]
    );
    assert_eq!(body["pk"], a.target);
    assert_eq!(body["email"], "ada@example.com");
    assert!(!body.to_string().contains("argon2"), "never a hash: {body}");
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], a.target_tokens.session_id.as_str());
    assert_eq!(sessions[0]["current"], false, "no session is the caller's here");
    assert_eq!(body["events"][0]["type"], "admin_update");
    assert_eq!(body["events"][0]["actor"], a.root_id);
    // Both spellings, and HEAD.
    let no_slash = handle(
        &a.app,
        event(
            "GET",
            &format!("/account/admin/users/{}", a.target),
            &[("authorization", &bearer(&a.staff.access))],
            None,
        ),
    )
    .await;
    assert_eq!(no_slash.status(), 200);
    assert_eq!(
        call(&a.app, "HEAD", &a.staff.access, a.target, None).await.status(),
        200
    );
}

#[tokio::test]
async fn an_unknown_pk_is_404_a_malformed_one_400_and_non_staff_403() {
    let a = admins().await;
    assert_not_found(&call(&a.app, "GET", &a.staff.access, 999_999, None).await);
    assert_not_found(&call(&a.app, "DELETE", &a.root.access, 999_999, None).await);
    for bad in ["x", "-1", "1.5"] {
        assert_400(
            &call(&a.app, "GET", &a.staff.access, bad, None).await,
            &json!({"pk": [INVALID_PK]}),
        );
    }
    assert_status(
        &call(&a.app, "GET", &a.target_tokens.access, a.target, None).await,
        403,
        FORBIDDEN,
    );
    let put = call(&a.app, "PUT", &a.staff.access, a.target, Some(json!({}))).await;
    assert_eq!(put.status(), 405);
}

#[tokio::test]
async fn a_patch_changes_the_fields_it_names_validated_and_records_who_changed_which() {
    let a = admins().await;
    let response = call(
        &a.app,
        "PATCH",
        &a.staff.access,
        a.target,
        Some(json!({"first_name": " Ada ", "gender": "female", "email_verified": "true", "email": "x@example.com", "pk": 5})),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    let body = body_json(&response);
    assert_eq!(
        (body["first_name"].clone(), body["gender"].clone()),
        (json!("Ada"), json!("female"))
    );
    assert_eq!(body["email_verified"], true);
    assert_eq!(body["email"], "ada@example.com", "read-only fields are ignored");
    let events = recorded(&a.app, EventKind::AdminUpdate);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user, EventSubject::User(a.target));
    assert_eq!(events[0].detail["fields"], "first_name,gender,email_verified");
    assert!(events[0].actor.is_some_and(|actor| actor != a.target));
    // The user's own rules, and DRF's booleans.
    assert_400(
        &call(
            &a.app,
            "PATCH",
            &a.staff.access,
            a.target,
            Some(json!({"gender": "x", "is_active": "maybe", "date_of_birth": "2999-01-01"})),
        )
        .await,
        &json!({
            "gender": ["\"x\" is not a valid choice."],
            "date_of_birth": ["Date of birth cannot be in the future."],
            "is_active": ["Must be a valid boolean."],
        }),
    );
    // Nothing that differs: no write, no event.
    call(
        &a.app,
        "PATCH",
        &a.staff.access,
        a.target,
        Some(json!({"first_name": "Ada"})),
    )
    .await;
    assert_eq!(recorded(&a.app, EventKind::AdminUpdate).len(), 1);
}

#[tokio::test]
async fn a_deactivation_ends_every_session_at_once_and_reactivation_revives_none() {
    let a = admins().await;
    assert_eq!(access_denial(&a.app, &a.target_tokens.access).await, None);
    let response = call(
        &a.app,
        "PATCH",
        &a.staff.access,
        a.target,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_eq!(body_json(&response)["sessions"], json!([]));
    assert_eq!(
        access_denial(&a.app, &a.target_tokens.access).await,
        Some(json!({"detail": "User is inactive", "code": "user_inactive"}))
    );
    call(
        &a.app,
        "PATCH",
        &a.staff.access,
        a.target,
        Some(json!({"is_active": true})),
    )
    .await;
    let denial = access_denial(&a.app, &a.target_tokens.access)
        .await
        .expect("the session stays ended");
    assert_eq!(denial["code"], "token_not_valid");
}

#[tokio::test]
async fn only_a_superuser_changes_flags_or_touches_a_superuser_and_nobody_demotes_themself() {
    let a = admins().await;
    assert_status(
        &call(
            &a.app,
            "PATCH",
            &a.staff.access,
            a.target,
            Some(json!({"is_staff": true})),
        )
        .await,
        403,
        FORBIDDEN,
    );
    assert_status(
        &call(
            &a.app,
            "PATCH",
            &a.staff.access,
            a.root_id,
            Some(json!({"first_name": "X"})),
        )
        .await,
        403,
        FORBIDDEN,
    );
    assert_status(
        &call(&a.app, "DELETE", &a.staff.access, a.root_id, None).await,
        403,
        FORBIDDEN,
    );
    let promoted = call(
        &a.app,
        "PATCH",
        &a.root.access,
        a.target,
        Some(json!({"is_staff": true})),
    )
    .await;
    assert_eq!(body_json(&promoted)["is_staff"], true);
    assert_400(
        &call(
            &a.app,
            "PATCH",
            &a.root.access,
            a.root_id,
            Some(json!({"is_active": false, "is_superuser": false})),
        )
        .await,
        &json!({"is_active": [SELF_DEACTIVATION], "is_superuser": [SELF_DEMOTION]}),
    );
    assert_status(
        &call(&a.app, "DELETE", &a.root.access, a.root_id, None).await,
        400,
        SELF_DELETION,
    );
    assert!(
        a.app
            .store
            .user(a.root_id)
            .is_some_and(|root| root.is_active && root.is_superuser)
    );
}

#[tokio::test]
async fn the_last_active_superuser_stays_one_and_a_stale_write_is_a_409() {
    let a = admins().await;
    let root = a.app.store.user(a.root_id).expect("root");
    let demote = AdminChanges {
        is_superuser: Some(false),
        ..Default::default()
    };
    // Through the routes a superuser acts only on another one, so the rule shows where an
    // operator acts (account-admin) and where two superusers race: the store refuses.
    let operator = Occasion {
        actor: Actor::Operator("ops".into()),
        origin: SessionOrigin::default(),
        retention_days: 90,
    };
    assert!(matches!(
        admin::update(&a.app.store, &operator, &root, &demote).await,
        Err(ApiError::Refused(LAST_SUPERUSER))
    ));
    assert!(a.app.store.user(a.root_id).is_some_and(|root| root.is_superuser));
    let (second, second_tokens) = join_user(&a.app, "second@example.com", PASSWORD).await;
    a.app.store.set_superuser(second.id, true);
    let stale = a.app.store.user(a.target).expect("target");
    let renamed = call(
        &a.app,
        "PATCH",
        &a.root.access,
        a.target,
        Some(json!({"first_name": "One"})),
    )
    .await;
    assert_eq!(renamed.status(), 200);
    let rename = AdminChanges {
        profile: shared::store::ProfileChanges {
            first_name: Some("Two".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        a.app.store.admin_update(&stale, &rename, &[]).await.expect("store"),
        Err(shared::store::AdminRefusal::Conflict)
    );
    assert_eq!(
        a.app.store.user(a.target).expect("target").first_name,
        "One",
        "the first change stands"
    );
    let demoted = call(
        &a.app,
        "PATCH",
        &second_tokens.access,
        a.root_id,
        Some(json!({"is_superuser": false})),
    )
    .await;
    assert_eq!(
        body_json(&demoted)["is_superuser"],
        false,
        "with a second superuser, the first may go"
    );
}

#[tokio::test]
async fn a_delete_removes_the_user_frees_the_email_and_refuses_their_tokens() {
    let a = admins().await;
    assert_no_content(&call(&a.app, "DELETE", &a.staff.access, a.target, None).await);
    assert!(a.app.store.user(a.target).is_none());
    assert!(!a.app.store.email_registered("ada@example.com").await.expect("store"));
    // Its session is deleted with it: the token names nothing any more.
    let denial = access_denial(&a.app, &a.target_tokens.access).await.expect("refused");
    assert_eq!(denial["code"], "token_not_valid");
    assert!(
        a.app.store.session(a.target, &a.target_tokens.session_id).is_none(),
        "sessions swept"
    );
    let deleted = recorded(&a.app, EventKind::AdminDelete);
    assert_eq!(deleted.len(), 1);
    assert_not_found(&call(&a.app, "DELETE", &a.staff.access, a.target, None).await);
    // Its events stay for their retention period.
    assert!(
        !create_user(&a.app, "ada@example.com", PASSWORD).await.email.is_empty(),
        "the email joins again"
    );
}
