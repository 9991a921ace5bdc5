//! Handler tests for GET|PUT|PATCH /account/user/ over the memory store (contract §1–§3, and
//! issue 11: the reference's answers for names, read-only fields and missing fields; gender and
//! date of birth with join's rules; a write that never undoes a deactivation or a password
//! change that landed while the request was being served).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::App;
use shared::store::{MemoryStore, SessionStore, User, UserStore};
use shared::testing::{
    CHALLENGE, EMAIL, Meanwhile, app, assert_400, assert_401, assert_security_headers, assert_unavailable, bearer,
    body_json, event, header, interfered, joined, refused_authorizations, start_session, token_not_valid,
    user_inactive, user_not_found,
};
use user::handle;

const PATH: &str = "/account/user/";
const ALLOW: &str = "GET, PUT, PATCH, HEAD, OPTIONS";

async fn get_user<S: UserStore + SessionStore>(app: &App<S>, access: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(app, event("GET", PATH, &[("authorization", &authorization)], None)).await
}

/// A PUT or PATCH with a JSON body.
async fn write<S: UserStore + SessionStore>(app: &App<S>, method: &str, access: &str, body: Value) -> Response<Body> {
    let authorization = bearer(access);
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    handle(app, event(method, PATH, &headers, Some(&body.to_string()))).await
}

/// The user object as the contract shows it.
fn user_object(pk: u64, first: &str, last: &str, gender: &str, date_of_birth: Value) -> Value {
    json!({
        "pk": pk,
        "email": EMAIL,
        "first_name": first,
        "last_name": last,
        "gender": gender,
        "date_of_birth": date_of_birth,
    })
}

/// A user with every profile field set.
async fn with_profile(app: &App<MemoryStore>, access: &str) {
    let body = json!({"first_name": "Ada", "last_name": "Lovelace", "gender": "female", "date_of_birth": "1815-12-10"});
    assert_eq!(write(app, "PATCH", access, body).await.status(), 200);
}

#[track_caller]
fn assert_ok(response: &Response<Body>, expected: &Value) {
    assert_eq!(response.status(), 200, "{}", body_json(response));
    assert_security_headers(response);
    assert_eq!(header(response, "allow"), Some(ALLOW));
    assert!(header(response, "www-authenticate").is_none());
    assert_eq!(&body_json(response), expected);
}

fn stored(app: &App<MemoryStore>, user_id: u64) -> User {
    app.store.user(user_id).expect("the user exists")
}

// --- GET and HEAD -----------------------------------------------------------------------------

#[tokio::test]
async fn get_answers_the_user_object_in_both_spellings() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let expected = user_object(user_id, "", "", "", Value::Null);
    assert_ok(&get_user(&app, &tokens.access).await, &expected);
    let authorization = bearer(&tokens.access);
    let bare = event("GET", "/account/user", &[("authorization", &authorization)], None);
    assert_ok(&handle(&app, bare).await, &expected);
    let text = format!("{:?}", body_json(&get_user(&app, &tokens.access).await));
    assert!(!text.contains("password"), "no hash or flag leaves: {text}");
}

#[tokio::test]
async fn get_shows_every_profile_field_as_stored() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    with_profile(&app, &tokens.access).await;
    let expected = user_object(user_id, "Ada", "Lovelace", "female", json!("1815-12-10"));
    assert_ok(&get_user(&app, &tokens.access).await, &expected);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    let response = handle(&app, event("HEAD", PATH, &[("authorization", &authorization)], None)).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().as_ref().is_empty());
    assert_eq!(header(&response, "allow"), Some(ALLOW));
    let refused = handle(&app, event("HEAD", "/account/user", &[], None)).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.body().as_ref().is_empty());
    assert_eq!(header(&refused, "www-authenticate"), Some(CHALLENGE));
}

// --- PUT and PATCH ----------------------------------------------------------------------------

#[tokio::test]
async fn patch_changes_the_names_and_answers_the_stored_user() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let response = write(
        &app,
        "PATCH",
        &tokens.access,
        json!({"first_name": "Grace", "last_name": "Hopper"}),
    )
    .await;
    let expected = user_object(user_id, "Grace", "Hopper", "", Value::Null);
    assert_ok(&response, &expected);
    let user = stored(&app, user_id);
    assert_eq!((user.first_name.as_str(), user.last_name.as_str()), ("Grace", "Hopper"));
    assert_ok(&get_user(&app, &tokens.access).await, &expected);
}

#[tokio::test]
async fn put_and_patch_leave_every_field_they_do_not_send_as_it_is() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    with_profile(&app, &tokens.access).await;
    for method in ["PUT", "PATCH"] {
        let response = write(&app, method, &tokens.access, json!({"first_name": method})).await;
        let expected = user_object(user_id, method, "Lovelace", "female", json!("1815-12-10"));
        assert_ok(&response, &expected);
        let empty = write(&app, method, &tokens.access, json!({})).await;
        assert_ok(&empty, &expected);
    }
}

#[tokio::test]
async fn put_with_no_body_changes_nothing_and_answers_the_user() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    with_profile(&app, &tokens.access).await;
    let authorization = bearer(&tokens.access);
    let response = handle(&app, event("PUT", PATH, &[("authorization", &authorization)], None)).await;
    assert_ok(
        &response,
        &user_object(user_id, "Ada", "Lovelace", "female", json!("1815-12-10")),
    );
}

#[tokio::test]
async fn email_and_pk_are_read_only_and_unknown_keys_are_ignored() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let body = json!({
        "email": "thief@example.com",
        "pk": 999,
        "is_staff": true,
        "is_active": false,
        "password": "x",
        "session_epoch": 7,
        "last_name": "Kept",
    });
    let response = write(&app, "PATCH", &tokens.access, body).await;
    assert_ok(&response, &user_object(user_id, "", "Kept", "", Value::Null));
    let user = stored(&app, user_id);
    assert_eq!(user.email, EMAIL);
    assert!(user.is_active && !user.is_staff);
    assert_eq!(user.session_epoch, 0);
    assert!(!app.store.email_registered("thief@example.com").await.unwrap());
    assert_eq!(get_user(&app, &tokens.access).await.status(), 200);
}

#[tokio::test]
async fn names_are_trimmed_may_be_blank_and_hold_150_characters() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    with_profile(&app, &tokens.access).await;
    let response = write(
        &app,
        "PATCH",
        &tokens.access,
        json!({"first_name": "  Ann  ", "last_name": " \t "}),
    )
    .await;
    assert_ok(
        &response,
        &user_object(user_id, "Ann", "", "female", json!("1815-12-10")),
    );
    let long = "x".repeat(150);
    let emoji = "😀".repeat(150);
    let response = write(
        &app,
        "PUT",
        &tokens.access,
        json!({"first_name": format!(" {long} "), "last_name": emoji}),
    )
    .await;
    assert_ok(
        &response,
        &user_object(user_id, &long, &emoji, "female", json!("1815-12-10")),
    );
}

#[tokio::test]
async fn numbers_are_text_as_in_the_reference() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let response = write(
        &app,
        "PATCH",
        &tokens.access,
        json!({"first_name": 12, "last_name": 1.5}),
    )
    .await;
    assert_ok(&response, &user_object(user_id, "12", "1.5", "", Value::Null));
}

#[tokio::test]
async fn invalid_fields_get_the_reference_messages_in_field_order_and_nothing_is_written() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    with_profile(&app, &tokens.access).await;
    let before = stored(&app, user_id);
    let cases = [
        (
            json!({"first_name": "x".repeat(151)}),
            json!({"first_name": ["Ensure this field has no more than 150 characters."]}),
        ),
        (
            json!({"last_name": "y".repeat(151), "first_name": null}),
            json!({
                "first_name": ["This field may not be null."],
                "last_name": ["Ensure this field has no more than 150 characters."],
            }),
        ),
        (
            json!({"first_name": true, "last_name": [1]}),
            json!({"first_name": ["Not a valid string."], "last_name": ["Not a valid string."]}),
        ),
        (
            json!({"date_of_birth": "2999-01-01", "gender": "robot", "first_name": "Valid"}),
            json!({
                "gender": ["\"robot\" is not a valid choice."],
                "date_of_birth": ["Date of birth cannot be in the future."],
            }),
        ),
        (
            json!({"gender": null, "date_of_birth": "10/12/1815"}),
            json!({
                "gender": ["This field may not be null."],
                "date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
            }),
        ),
        (
            json!({"gender": "Female", "date_of_birth": 18151210}),
            json!({
                "gender": ["\"Female\" is not a valid choice."],
                "date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
            }),
        ),
    ];
    for method in ["PUT", "PATCH"] {
        for (body, expected) in &cases {
            let response = write(&app, method, &tokens.access, body.clone()).await;
            assert_400(&response, expected);
            assert_eq!(header(&response, "allow"), Some(ALLOW));
        }
    }
    assert_eq!(stored(&app, user_id), before, "a refused request writes nothing");
}

#[tokio::test]
async fn gender_and_date_of_birth_change_and_clear_with_joins_rules() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    with_profile(&app, &tokens.access).await;
    let response = write(
        &app,
        "PATCH",
        &tokens.access,
        json!({"gender": "male", "date_of_birth": "2000-02-29"}),
    )
    .await;
    assert_ok(
        &response,
        &user_object(user_id, "Ada", "Lovelace", "male", json!("2000-02-29")),
    );
    // Blank gender is no gender; null or blank date is no date (as join reads them).
    for cleared in [json!(null), json!(""), json!("  ")] {
        with_profile(&app, &tokens.access).await;
        let response = write(
            &app,
            "PUT",
            &tokens.access,
            json!({"gender": "", "date_of_birth": cleared}),
        )
        .await;
        assert_ok(&response, &user_object(user_id, "Ada", "Lovelace", "", Value::Null));
        assert_eq!(stored(&app, user_id).date_of_birth, None);
    }
    let today = shared::http::input::today_utc().to_string();
    let response = write(&app, "PATCH", &tokens.access, json!({"date_of_birth": today})).await;
    assert_eq!(response.status(), 200, "today is not in the future");
}

#[tokio::test]
async fn a_form_body_is_read_like_json() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let form = "first_name=F%C3%A9lix&last_name=L&gender=male&date_of_birth=";
    let response = handle(&app, event("PUT", "/account/user", &headers, Some(form))).await;
    assert_ok(&response, &user_object(user_id, "Félix", "L", "male", Value::Null));
}

#[tokio::test]
async fn bodies_are_read_by_the_contract_rules_after_authentication() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    let cases: [(&str, &str, u16, Value); 4] = [
        (
            "text/plain",
            "x",
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."}),
        ),
        (
            "application/json",
            "[1]",
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            "application/json",
            "null",
            400,
            json!({"non_field_errors": ["No data provided"]}),
        ),
        (
            "application/json",
            &"{\"a\":\"".repeat(20_000),
            413,
            json!({"detail": "Request body too large."}),
        ),
    ];
    for (content_type, body, status, expected) in cases {
        let headers = [
            ("authorization", authorization.as_str()),
            ("content-type", content_type),
        ];
        let response = handle(&app, event("PATCH", PATH, &headers, Some(body))).await;
        assert_eq!(response.status(), status, "{content_type}");
        assert_eq!(body_json(&response), expected);
        // Without credentials, authentication answers first, whatever the body.
        let anonymous = handle(
            &app,
            event("PATCH", PATH, &[("content-type", content_type)], Some(body)),
        )
        .await;
        assert_401(
            &anonymous,
            &json!({"detail": "Authentication credentials were not provided."}),
        );
    }
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let malformed = handle(&app, event("PUT", PATH, &headers, Some("{\"first_name\":"))).await;
    assert_eq!(malformed.status(), 400);
    let detail = body_json(&malformed)["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("JSON parse error - "), "{detail}");
}

// --- Authentication: the 401s of mypage ---------------------------------------------------------

#[tokio::test]
async fn every_method_refuses_what_mypage_refuses() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let cases = refused_authorizations(&app, user_id, &tokens);
    for method in ["GET", "PUT", "PATCH"] {
        for (authorization, expected) in &cases {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(value) = authorization {
                headers.push(("authorization", value));
            }
            let response = handle(&app, event(method, PATH, &headers, Some("{\"first_name\":\"Eve\"}"))).await;
            assert_401(&response, expected);
        }
    }
    assert_eq!(stored(&app, user_id).first_name, "");
}

#[tokio::test]
async fn a_logged_out_session_can_neither_read_nor_write_but_the_others_can() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let other = start_session(&app, user_id).await;
    assert!(app.store.end_session(user_id, &tokens.session_id).await.unwrap());
    let invalid = token_not_valid("Token is invalid");
    assert_401(&get_user(&app, &tokens.access).await, &invalid);
    for method in ["PUT", "PATCH"] {
        let response = write(&app, method, &tokens.access, json!({"first_name": "Eve"})).await;
        assert_401(&response, &invalid);
    }
    assert_eq!(stored(&app, user_id).first_name, "");
    let response = write(&app, "PATCH", &other.access, json!({"first_name": "Ada"})).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn sessions_ended_by_a_password_change_elsewhere_are_refused() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    let kept = start_session(&app, user_id).await;
    assert!(
        app.store
            .change_password(user_id, &kept.session_id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    let response = write(&app, "PATCH", &tokens.access, json!({"first_name": "Eve"})).await;
    assert_401(&response, &token_not_valid("Token is invalid"));
    let response = write(&app, "PATCH", &kept.access, json!({"first_name": "Ada"})).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_inactive_or_deleted_user_is_not_found_and_stays_as_it_was() {
    let app = app();
    let (user_id, tokens) = joined(&app).await;
    app.store.set_active(user_id, false);
    for method in ["GET", "PUT", "PATCH"] {
        let response = write(&app, method, &tokens.access, json!({"first_name": "Eve"})).await;
        assert_401(&response, &user_inactive());
    }
    let user = stored(&app, user_id);
    assert!(!user.is_active);
    assert_eq!(user.first_name, "");
    app.store.set_active(user_id, true);
    assert_eq!(get_user(&app, &tokens.access).await.status(), 200);
    app.store.delete_user(user_id);
    let response = write(&app, "PATCH", &tokens.access, json!({"first_name": "Eve"})).await;
    assert_401(&response, &user_not_found());
    assert!(app.store.user(user_id).is_none(), "not recreated");
}

#[tokio::test]
async fn the_store_being_down_is_a_503() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    app.store.set_unavailable(true);
    for method in ["GET", "PATCH"] {
        let response = write(&app, method, &tokens.access, json!({"first_name": "Eve"})).await;
        assert_unavailable(&response);
    }
}

// --- What lands between authentication and the write ----------------------------------------------

#[tokio::test]
async fn a_deactivation_landing_after_authentication_is_not_overwritten() {
    let (app, user_id, tokens) = interfered(|_| Meanwhile::Deactivate).await;
    let response = write(&app, "PATCH", &tokens.access, json!({"first_name": "Eve"})).await;
    assert_401(&response, &user_not_found());
    let user = app.store.store.user(user_id).expect("still there");
    assert!(!user.is_active, "the deactivation stands");
    assert_eq!(user.first_name, "", "nothing written");
}

#[tokio::test]
async fn a_password_change_landing_after_authentication_is_not_overwritten() {
    let (app, user_id, tokens) = interfered(|kept_session| Meanwhile::PasswordChange { kept_session }).await;
    let response = write(&app, "PUT", &tokens.access, json!({"first_name": "Eve"})).await;
    assert_401(&response, &token_not_valid("Token is invalid"));
    let user = app.store.store.user(user_id).expect("still there");
    assert_eq!(
        (
            user.first_name.as_str(),
            user.password_hash.as_str(),
            user.session_epoch
        ),
        ("", "new-hash", 1),
        "the change stands, nothing else written"
    );
}

#[tokio::test]
async fn a_deletion_landing_after_authentication_does_not_recreate_the_user() {
    let (app, user_id, tokens) = interfered(|_| Meanwhile::Delete).await;
    let response = write(&app, "PATCH", &tokens.access, json!({"last_name": "Ghost"})).await;
    assert_401(&response, &user_not_found());
    assert!(app.store.store.user(user_id).is_none());
}

/// Without interference the same store lets the write through: the tests above fail for the
/// reason they name.
#[tokio::test]
async fn without_interference_the_write_goes_through() {
    let (app, user_id, tokens) = interfered(|_| Meanwhile::Deactivate).await;
    app.store.meanwhile.lock().unwrap().take();
    let response = write(&app, "PATCH", &tokens.access, json!({"first_name": "Ada"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.store.store.user(user_id).unwrap().first_name, "Ada");
}

// --- Methods, OPTIONS, foreign paths ---------------------------------------------------------------

#[tokio::test]
async fn post_and_delete_are_405_with_allow() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    for path in [PATH, "/account/user"] {
        for method in ["POST", "DELETE", "TRACE"] {
            let response = handle(&app, event(method, path, &[("authorization", &authorization)], None)).await;
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_security_headers(&response);
            assert_eq!(header(&response, "allow"), Some(ALLOW));
            assert_eq!(
                body_json(&response),
                json!({"detail": format!("Method \"{method}\" not allowed.")})
            );
        }
    }
}

#[tokio::test]
async fn options_answers_without_a_token() {
    for path in [PATH, "/account/user"] {
        let response = handle(&app(), event("OPTIONS", path, &[], None)).await;
        assert_eq!(response.status(), 200);
        assert_security_headers(&response);
        assert_eq!(header(&response, "allow"), Some(ALLOW));
        assert_eq!(body_json(&response)["name"], "User Details");
    }
}

#[tokio::test]
async fn paths_it_does_not_own_are_json_404s() {
    let app = app();
    let (_, tokens) = joined(&app).await;
    let authorization = bearer(&tokens.access);
    for path in ["/account/user/x", "/account/users/", "/account/", "/account/mypage/"] {
        let response = handle(&app, event("GET", path, &[("authorization", &authorization)], None)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(body_json(&response), json!({"detail": "Not found."}));
    }
}
