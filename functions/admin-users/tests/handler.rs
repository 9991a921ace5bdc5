//! Handler tests for GET /account/admin/users/ over the memory store (issue 28): staff list the
//! users in email order by a prefix and two flags, a page at a time, never a password hash;
//! anyone else is refused, with REST API events as AWS sends them.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use admin_users::{ENDPOINT, handle};
use shared::App;
use shared::http::pages::{INVALID_BOOLEAN, INVALID_CURSOR, INVALID_LIMIT};
use shared::store::MemoryStore;
use shared::testing::{
    PASSWORD, SessionTokens, app, assert_400, assert_401, assert_security_headers, assert_unavailable, bearer,
    body_json, create_user, event, header, join_user, refused_authorizations,
};

const PATH: &str = "/account/admin/users/";
const FORBIDDEN: &str = "You do not have permission to perform this action.";

async fn list(app: &App<MemoryStore>, access: &str, query: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(
        app,
        event(
            "GET",
            &format!("{PATH}{query}"),
            &[("authorization", &authorization)],
            None,
        ),
    )
    .await
}

/// A staff user's session, and the app with a few users beside them.
async fn staff_app() -> (App<MemoryStore>, SessionTokens) {
    let app = app();
    let (staff, tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    for email in [
        "carol@example.com",
        "ada@example.com",
        "bob@example.com",
        "adam@example.com",
    ] {
        create_user(&app, email, PASSWORD).await;
    }
    (app, tokens)
}

fn emails(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|user| user["email"].as_str().expect("an email").to_owned())
        .collect()
}

fn assert_forbidden(response: &Response<Body>) {
    assert_eq!(response.status(), 403, "{}", body_json(response));
    assert_eq!(body_json(response), json!({"detail": FORBIDDEN}));
    assert_security_headers(response);
}

#[tokio::test]
async fn staff_page_through_every_user_in_email_order_and_see_no_password_hash() {
    let (app, tokens) = staff_app().await;
    let response = list(&app, &tokens.access, "").await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_security_headers(&response);
    assert_eq!(header(&response, "allow"), Some(ENDPOINT.allow()));
    let body = body_json(&response);
    assert_eq!(
        emails(&body),
        [
            "ada@example.com",
            "adam@example.com",
            "bob@example.com",
            "carol@example.com",
            "staff@example.com"
        ]
    );
    assert_eq!(body["next"], Value::Null);
    let ada = &body["results"][0];
    let keys: Vec<&str> = ada.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "pk",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "email_verified",
            "date_joined"
        ]
    );
    assert!(!body.to_string().contains("argon2"), "never a hash: {body}");

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut sizes = Vec::new();
    loop {
        let body = body_json(&list(&app, &tokens.access, &query).await);
        sizes.push(emails(&body).len());
        seen.extend(emails(&body));
        match body["next"].as_str() {
            Some(next) => query = format!("?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(seen.len(), 5);
    assert!(seen.is_sorted());
}

#[tokio::test]
async fn a_prefix_in_any_case_and_the_flags_narrow_the_list() {
    let (app, tokens) = staff_app().await;
    let adam = app.store.find_by_email_now("adam@example.com").expect("adam");
    app.store.set_active(adam.id, false);
    let emails_of = async |query: &str| emails(&body_json(&list(&app, &tokens.access, query).await));
    assert_eq!(emails_of("?q=AD").await, ["ada@example.com", "adam@example.com"]);
    assert_eq!(emails_of("?q=%20ada@").await, ["ada@example.com"]);
    assert_eq!(emails_of("?q=ad&is_active=true").await, ["ada@example.com"]);
    assert_eq!(emails_of("?is_active=false").await, ["adam@example.com"]);
    assert_eq!(emails_of("?is_staff=1").await, ["staff@example.com"]);
    assert_eq!(emails_of("?is_staff=true&is_active=false").await, Vec::<String>::new());
    assert_eq!(emails_of("?q=nobody").await, Vec::<String>::new());
}

#[tokio::test]
async fn bad_parameters_and_a_cursor_of_another_query_are_400s() {
    let (app, tokens) = staff_app().await;
    assert_400(
        &list(&app, &tokens.access, "?is_active=maybe").await,
        &json!({"is_active": [INVALID_BOOLEAN]}),
    );
    assert_400(
        &list(&app, &tokens.access, "?is_staff=").await,
        &json!({"is_staff": [INVALID_BOOLEAN]}),
    );
    for limit in ["0", "101", "x"] {
        assert_400(
            &list(&app, &tokens.access, &format!("?limit={limit}")).await,
            &json!({"limit": [INVALID_LIMIT]}),
        );
    }
    let other = body_json(&list(&app, &tokens.access, "?q=a&limit=1").await)["next"]
        .as_str()
        .expect("a second page")
        .to_owned();
    assert_400(
        &list(&app, &tokens.access, &format!("?q=b&cursor={other}")).await,
        &json!({"cursor": [INVALID_CURSOR]}),
    );
    assert_eq!(
        list(&app, &tokens.access, &format!("?q=a&cursor={other}"))
            .await
            .status(),
        200,
        "its own query"
    );
    assert_400(
        &list(&app, &tokens.access, "?cursor=abc").await,
        &json!({"cursor": [INVALID_CURSOR]}),
    );
}

#[tokio::test]
async fn anyone_but_an_active_staff_user_is_refused() {
    let (app, staff) = staff_app().await;
    let (user, tokens) = join_user(&app, "plain@example.com", PASSWORD).await;
    assert_forbidden(&list(&app, &tokens.access, "").await);
    // Refused as the store says now, whatever the token was issued to.
    let staff_user = app.store.find_by_email_now("staff@example.com").expect("staff");
    app.store.set_active(staff_user.id, false);
    assert_forbidden(&list(&app, &staff.access, "").await);
    app.store.set_active(staff_user.id, true);
    app.store.delete_user(staff_user.id);
    assert_forbidden(&list(&app, &staff.access, "").await);
    // No valid token at all: the 401 of every protected route.
    for (authorization, expected) in refused_authorizations(&app, user.id, &tokens) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        for path in [PATH, "/account/admin/users"] {
            assert_401(&handle(&app, event("GET", path, &headers, None)).await, &expected);
        }
    }
}

#[tokio::test]
async fn a_store_outage_is_a_503_and_other_methods_are_405() {
    let (app, tokens) = staff_app().await;
    let authorization = bearer(&tokens.access);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let response = handle(
            &app,
            event(method, PATH, &[("authorization", &authorization)], Some("{}")),
        )
        .await;
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), Some(ENDPOINT.allow()));
    }
    app.store.set_unavailable(true);
    assert_unavailable(&list(&app, &tokens.access, "").await);
}

#[tokio::test]
async fn with_the_admin_api_off_every_request_is_a_404_as_for_a_path_that_does_not_exist() {
    let app = shared::testing::app_with(&[("ADMIN_API", "false")]);
    let (staff, tokens) = join_user(&app, "staff@example.com", PASSWORD).await;
    app.store.set_staff(staff.id, true);
    for method in ["GET", "OPTIONS", "POST"] {
        let response = handle(
            &app,
            event(method, PATH, &[("authorization", &bearer(&tokens.access))], None),
        )
        .await;
        assert_eq!(response.status(), 404, "{method}");
        assert_eq!(body_json(&response), json!({"detail": "Not found."}));
        assert_eq!(header(&response, "allow"), None, "nothing says the route exists");
    }
}
