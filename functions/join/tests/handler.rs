//! Handler tests for POST /account/join/ over the memory store (contract §1, §3, §4 join).

use std::sync::Arc;

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use join::handle;
use shared::App;
use shared::store::{MemoryStore, SessionStore};
use shared::testing::{
    PASSWORD, app, assert_400, assert_post_route_conventions, assert_security_headers, assert_unavailable, body_json,
    event, header, post_json, set_cookies,
};
use shared::tokens::TokenKind;

const PATH: &str = "/account/join/";

async fn join_with(app: &App<MemoryStore>, body: Value) -> Response<Body> {
    handle(app, post_json(PATH, &body, &[])).await
}

fn signup(email: &str) -> Value {
    json!({"email": email, "password1": PASSWORD, "password2": PASSWORD})
}

/// `signup(email)` plus the extra fields of `more`.
fn signup_with(email: &str, more: Value) -> Value {
    let mut body = signup(email);
    for (key, value) in more.as_object().expect("an object") {
        body[key] = value.clone();
    }
    body
}

#[tokio::test]
async fn join_creates_the_user_and_answers_tokens_and_the_user_object() {
    let app = app();
    let response = join_with(&app, signup("new@example.com")).await;
    assert_eq!(response.status(), 201);
    assert_security_headers(&response);
    assert!(set_cookies(&response).is_empty(), "join sets no cookies");
    assert!(header(&response, "www-authenticate").is_none());
    let body = body_json(&response);
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access", "refresh", "user"]);
    let pk = body["user"]["pk"].as_u64().expect("pk is a JSON integer");
    assert_eq!(
        body["user"],
        json!({"pk": pk, "email": "new@example.com", "first_name": "", "last_name": "", "gender": "",
               "date_of_birth": null})
    );

    let access = app
        .tokens
        .verify(body["access"].as_str().unwrap(), TokenKind::Access)
        .unwrap();
    let refresh = app
        .tokens
        .verify(body["refresh"].as_str().unwrap(), TokenKind::Refresh)
        .unwrap();
    assert_eq!((access.user_id, refresh.user_id), (pk, pk));
    assert_eq!(access.session_id, refresh.session_id, "one session for both tokens");
    let session = app
        .store
        .session(pk, &access.session_id)
        .expect("join starts a session");
    assert_eq!(session.refresh_jti, refresh.jti);
    assert!(!session.revoked);
    let stored = app.store.user(pk).unwrap();
    assert_eq!(stored.email, "new@example.com");
    assert!(stored.is_active && !stored.is_staff && !stored.is_superuser);
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "the password is stored hashed"
    );
    assert!(shared::auth::password::verify_password(
        &PASSWORD.into(),
        &stored.password_hash
    ));
    // The tokens work straight away.
    let view = app.store.load(pk, &access.session_id).await.unwrap();
    assert!(view.live(shared::now_unix()).is_ok());
}

#[tokio::test]
async fn join_stores_and_returns_names_gender_and_date_of_birth() {
    let app = app();
    let more = json!({"first_name": "Ada", "last_name": "Lovelace", "gender": "female", "date_of_birth": "1990-02-03",
                      "unknown_key": "ignored"});
    let response = join_with(&app, signup_with("  Ada@Example.COM ", more)).await;
    assert_eq!(response.status(), 201);
    let user = &body_json(&response)["user"];
    let pk = user["pk"].as_u64().unwrap();
    assert_eq!(
        *user,
        json!({"pk": pk, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
               "gender": "female", "date_of_birth": "1990-02-03"})
    );
    let stored = app.store.user(pk).unwrap();
    assert_eq!(
        (stored.gender.as_str(), stored.date_of_birth.as_deref()),
        ("female", Some("1990-02-03"))
    );
    assert_eq!(stored.email, "ada@example.com", "stored lower-cased and trimmed");
}

#[tokio::test]
async fn join_accepts_a_blank_gender_and_a_null_date_of_birth() {
    let app = app();
    let body = signup_with("blank@example.com", json!({"gender": "", "date_of_birth": null}));
    let response = join_with(&app, body).await;
    assert_eq!(response.status(), 201);
    let user = &body_json(&response)["user"];
    assert_eq!((&user["gender"], &user["date_of_birth"]), (&json!(""), &Value::Null));
}

#[tokio::test]
async fn join_gives_each_user_a_new_pk() {
    let app = app();
    let first = body_json(&join_with(&app, signup("one@example.com")).await)["user"]["pk"]
        .as_u64()
        .unwrap();
    let second = body_json(&join_with(&app, signup("two@example.com")).await)["user"]["pk"]
        .as_u64()
        .unwrap();
    assert_ne!(first, second);
}

#[tokio::test]
async fn join_accepts_an_html_form_body() {
    let app = app();
    let form = format!("email=form%40example.com&password1={PASSWORD}&password2={PASSWORD}&gender=male");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let response = handle(&app, event("POST", PATH, &headers, Some(&form))).await;
    assert_eq!(response.status(), 201);
    let user = &body_json(&response)["user"];
    assert_eq!(
        (&user["email"], &user["gender"]),
        (&json!("form@example.com"), &json!("male"))
    );
}

#[tokio::test]
async fn join_answers_without_the_trailing_slash_too() {
    let app = app();
    let response = handle(&app, post_json("/account/join", &signup("noslash@example.com"), &[])).await;
    assert_eq!(response.status(), 201);
    assert_eq!(body_json(&response)["user"]["email"], "noslash@example.com");
}

#[tokio::test]
async fn join_with_an_empty_object_lists_every_required_field() {
    let expected = json!({
        "email": ["This field is required."],
        "password1": ["This field is required."],
        "password2": ["This field is required."],
    });
    assert_400(&join_with(&app(), json!({})).await, &expected);
}

#[tokio::test]
async fn join_refuses_a_blank_email() {
    let expected = json!({"email": ["This field may not be blank."]});
    assert_400(&join_with(&app(), signup("")).await, &expected);
}

#[tokio::test]
async fn join_refuses_a_bad_email() {
    let expected = json!({"email": ["Enter a valid email address."]});
    assert_400(&join_with(&app(), signup("not-an-email")).await, &expected);
}

#[tokio::test]
async fn join_refuses_a_taken_email_in_any_case() {
    let app = app();
    assert_eq!(join_with(&app, signup("taken@example.com")).await.status(), 201);
    let expected = json!({"email": ["A user is already registered with this email address."]});
    assert_400(&join_with(&app, signup("TAKEN@Example.com")).await, &expected);
    assert_400(&join_with(&app, signup(" taken@example.com ")).await, &expected);
}

#[tokio::test]
async fn join_lists_every_weak_password_rule_in_order() {
    let body = json!({"email": "weak@example.com", "password1": "1234567", "password2": "1234567"});
    let expected = json!({"password1": [
        "This password is too short. It must contain at least 8 characters.",
        "This password is too common.",
        "This password is entirely numeric.",
    ]});
    assert_400(&join_with(&app(), body).await, &expected);
    let body = json!({"email": "weak@example.com", "password1": "password", "password2": "password"});
    assert_400(
        &join_with(&app(), body).await,
        &json!({"password1": ["This password is too common."]}),
    );
}

/// One maximum everywhere: join took any length that password change and account deletion
/// then refused, so such a user could neither change nor delete their account.
#[tokio::test]
async fn join_refuses_passwords_longer_than_every_other_route_takes() {
    let app = app();
    let longest = format!("Long-Pw!{}", "x".repeat(shared::auth::password::MAX_PASSWORD_CHARS - 8));
    let too_long = format!("{longest}y");
    let expected = json!({
        "password1": ["Ensure this field has no more than 128 characters."],
        "password2": ["Ensure this field has no more than 128 characters."],
    });
    let body = json!({"email": "long@example.com", "password1": too_long, "password2": too_long});
    assert_400(&join_with(&app, body).await, &expected);
    let body = json!({"email": "long@example.com", "password1": longest, "password2": longest});
    assert_eq!(join_with(&app, body).await.status(), 201);
}

#[tokio::test]
async fn join_reports_similarity_to_the_email_under_non_field_errors() {
    let app = app();
    let body = json!({"email": "johnsmithers@example.com", "password1": "johnsmithers1", "password2": "johnsmithers1"});
    let expected = json!({"non_field_errors": ["The password is too similar to the email."]});
    assert_400(&join_with(&app, body).await, &expected);
    assert!(app.store.user(1).is_none(), "nothing was created");
}

#[tokio::test]
async fn join_reports_similarity_only_once_every_field_check_passed() {
    // The email is taken and the password resembles it: only the field error shows.
    let app = app();
    assert_eq!(join_with(&app, signup("johnsmithers@example.com")).await.status(), 201);
    let body = json!({"email": "johnsmithers@example.com", "password1": "johnsmithers1", "password2": "johnsmithers1"});
    let expected = json!({"email": ["A user is already registered with this email address."]});
    assert_400(&join_with(&app, body).await, &expected);
}

#[tokio::test]
async fn join_refuses_passwords_that_differ_with_an_ascii_apostrophe() {
    let body = json!({"email": "differ@example.com", "password1": PASSWORD, "password2": "Tutorial-Pw!7318"});
    let expected = json!({"non_field_errors": ["The two password fields didn't match."]});
    assert_400(&join_with(&app(), body).await, &expected);
}

#[tokio::test]
async fn join_refuses_an_unknown_gender() {
    let body = signup_with("robot@example.com", json!({"gender": "robot"}));
    assert_400(
        &join_with(&app(), body).await,
        &json!({"gender": ["\"robot\" is not a valid choice."]}),
    );
}

#[tokio::test]
async fn join_refuses_a_badly_formatted_date_of_birth() {
    let body = signup_with("date@example.com", json!({"date_of_birth": "03/02/1990"}));
    let expected = json!({"date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]});
    assert_400(&join_with(&app(), body).await, &expected);
}

#[tokio::test]
async fn join_refuses_a_date_of_birth_in_the_future() {
    let next_year = time::OffsetDateTime::now_utc().year() + 1;
    let body = signup_with(
        "future@example.com",
        json!({"date_of_birth": format!("{next_year}-01-01")}),
    );
    assert_400(
        &join_with(&app(), body).await,
        &json!({"date_of_birth": ["Date of birth cannot be in the future."]}),
    );
}

#[tokio::test]
async fn join_collects_errors_of_several_fields_at_once() {
    let body = json!({"email": "bad", "password1": "short", "password2": PASSWORD, "gender": "robot"});
    let expected = json!({
        "email": ["Enter a valid email address."],
        "password1": ["This password is too short. It must contain at least 8 characters."],
        "gender": ["\"robot\" is not a valid choice."],
    });
    assert_400(&join_with(&app(), body).await, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_joins_racing_with_one_email_create_exactly_one_user() {
    let app = Arc::new(app());
    let race = |email: &'static str| {
        let app = Arc::clone(&app);
        tokio::spawn(async move { handle(&*app, post_json(PATH, &signup(email), &[])).await })
    };
    let (first, second) = (race("race@example.com"), race("RACE@example.com"));
    let mut statuses = [first.await.unwrap(), second.await.unwrap()];
    statuses.sort_by_key(|response| response.status());
    assert_eq!(statuses[0].status(), 201);
    assert_eq!(statuses[1].status(), 400);
    let expected = json!({"email": ["A user is already registered with this email address."]});
    assert_eq!(body_json(&statuses[1]), expected);
}

#[tokio::test]
async fn join_refuses_other_media_types_with_415() {
    let headers = [("content-type", "text/plain")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("email=a@example.com"))).await;
    assert_eq!(response.status(), 415);
    assert_security_headers(&response);
    assert_eq!(
        body_json(&response),
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
}

#[tokio::test]
async fn join_refuses_malformed_json_with_400() {
    let headers = [("content-type", "application/json")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("{\"email\":"))).await;
    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("JSON parse error - "),
        "{body}"
    );
}

#[tokio::test]
async fn join_refuses_json_that_is_not_an_object() {
    let headers = [("content-type", "application/json")];
    for (text, type_name) in [("[]", "list"), ("\"x\"", "str"), ("12", "int")] {
        let response = handle(&app(), event("POST", PATH, &headers, Some(text))).await;
        assert_eq!(response.status(), 400, "{text}");
        let message = format!("Invalid data. Expected a dictionary, but got {type_name}.");
        let expected = json!({"non_field_errors": [message]});
        assert_eq!(body_json(&response), expected);
    }
}

#[tokio::test]
async fn join_refuses_a_json_null_body_like_drf() {
    let headers = [("content-type", "application/json")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("null"))).await;
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response), json!({"non_field_errors": ["No data provided"]}));
}

#[tokio::test]
async fn join_refuses_bodies_over_64_kib_with_413() {
    let big = json!({"email": "big@example.com", "password1": "x".repeat(64 * 1024), "password2": "x"});
    let response = join_with(&app(), big).await;
    assert_eq!(response.status(), 413);
    assert_security_headers(&response);
    assert_eq!(body_json(&response), json!({"detail": "Request body too large."}));
}

#[tokio::test]
async fn join_answers_503_with_retry_after_when_the_store_is_down() {
    let app = app();
    app.store.set_unavailable(true);
    assert_unavailable(&join_with(&app, signup("down@example.com")).await);
    app.store.set_unavailable(false);
    assert!(app.store.user(1).is_none(), "nothing was created");
}

#[tokio::test]
async fn join_follows_the_route_conventions() {
    let app = app();
    let foreign = ["/account/login/", "/account/join/extra", "/account/", "/account/joinx"];
    assert_post_route_conventions(|request| handle(&app, request), PATH, "Register", &foreign).await;
}

// Address verification (allauth's ACCOUNT_EMAIL_VERIFICATION).

#[tokio::test]
async fn without_verification_join_mails_nothing() {
    let (app, mailer) = shared::testing::mailing_app_with(&[]);
    assert_eq!(join_with(&app, signup("none@example.com")).await.status(), 201);
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn optional_verification_mails_a_link_and_answers_as_ever() {
    let (app, mailer) = shared::testing::mailing_app_with(&[("EMAIL_VERIFICATION", "optional")]);
    let response = join_with(&app, signup("optional@example.com")).await;
    assert_eq!(response.status(), 201);
    let body = body_json(&response);
    assert!(body["access"].is_string() && body["refresh"].is_string(), "{body}");
    let mails = mailer.sent_to("optional@example.com");
    assert_eq!(mails.len(), 1);
    let user_id = body["user"]["pk"].as_u64().unwrap();
    let key = mails[0].link.rsplit('/').next().unwrap();
    assert!(app.email_keys().unwrap().check_confirmation_key(
        key,
        user_id,
        "optional@example.com",
        shared::now_unix(),
        259_200
    ));
}

#[tokio::test]
async fn mandatory_verification_answers_without_tokens_and_starts_no_session() {
    let (app, mailer) = shared::testing::mailing_app_with(&[("EMAIL_VERIFICATION", "mandatory")]);
    let response = join_with(&app, signup("mandatory@example.com")).await;
    assert_eq!(response.status(), 201);
    assert_security_headers(&response);
    assert_eq!(body_json(&response), json!({"detail": join::VERIFICATION_SENT}));
    assert_eq!(mailer.sent_to("mandatory@example.com").len(), 1);
    let user = app.store.user(1).expect("the user exists");
    assert!(!user.email_verified);
    assert_eq!(user.last_login, None, "no session started");
}

/// Under mandatory verification join says nothing of which addresses are registered (allauth's
/// enumeration prevention): a taken address gets the same 201 as a new one and its owner a mail
/// saying someone tried; the account is left as it was.
#[tokio::test]
async fn under_mandatory_verification_a_taken_address_answers_as_a_new_one_and_its_owner_is_told() {
    let (app, mailer) = shared::testing::mailing_app_with(&[("EMAIL_VERIFICATION", "mandatory")]);
    let first = join_with(&app, signup("owner@example.com")).await;
    assert_eq!(first.status(), 201);
    let owner = app.store.user(1).expect("the owner");
    let again = signup_with(
        "Owner@Example.com",
        json!({"password1": "Another-Pw!5521", "password2": "Another-Pw!5521"}),
    );
    let second = join_with(&app, again).await;
    assert_eq!(second.status(), 201);
    assert_eq!(body_json(&second), body_json(&first), "the same answer");
    assert_eq!(
        app.store.user(1).expect("unchanged"),
        owner,
        "the account is left as it was"
    );
    assert!(app.store.user(2).is_none(), "no second user");
    let mails = mailer.sent_to("owner@example.com");
    assert_eq!(
        mails.iter().map(|mail| mail.subject.as_str()).collect::<Vec<_>>(),
        ["Please confirm your e-mail address", "Account already exists"]
    );
    assert!(
        mails[1].link.is_empty() && !mails[1].text.contains("http"),
        "no link to follow"
    );
    // The tutorial's answer where addresses are not verified: clients depend on it.
    let (tutorial, _) = shared::testing::mailing_app_with(&[]);
    assert_eq!(join_with(&tutorial, signup("owner@example.com")).await.status(), 201);
    assert_400(
        &join_with(&tutorial, signup("owner@example.com")).await,
        &json!({"email": ["A user is already registered with this email address."]}),
    );
}

#[tokio::test]
async fn a_mail_service_down_does_not_undo_a_join() {
    let (app, mailer) = shared::testing::mailing_app_with(&[("EMAIL_VERIFICATION", "mandatory")]);
    mailer.set_refusing(true);
    let response = join_with(&app, signup("down@example.com")).await;
    assert_eq!(
        response.status(),
        201,
        "the user exists: a retry would be told the address is taken"
    );
    assert!(app.store.user(1).is_some());
}

#[tokio::test]
async fn a_join_is_recorded_as_the_new_users_own_act_and_a_refused_one_is_not() {
    use shared::store::{EventKind, EventSubject};
    let app = shared::testing::app();
    let response = join_with(&app, signup("recorded@example.com")).await;
    assert_eq!(response.status(), 201);
    let pk = body_json(&response)["user"]["pk"].as_u64().expect("a pk");
    let joins = shared::testing::recorded(&app, EventKind::Join);
    assert_eq!(joins.len(), 1);
    assert_eq!(
        (joins[0].user.clone(), joins[0].actor),
        (EventSubject::User(pk), Some(pk))
    );
    assert_eq!(joins[0].ip.as_deref(), Some("127.0.0.1"));
    // Taken: nothing joined, nothing recorded.
    assert_eq!(join_with(&app, signup("recorded@example.com")).await.status(), 400);
    assert_eq!(app.store.events().len(), 1);
}
