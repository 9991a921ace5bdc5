//! POST /account/join/ (contract §3, §4 join): the 201 and every error row.

use e2e::*;
use serde_json::{Value, json};

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

async fn refused(body: Value, expected: Value) {
    post_json(JOIN, body).await.expect(400, expected);
}

fn is_id(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[tokio::test]
async fn join_answers_201_with_tokens_and_the_user_object_and_no_cookies() {
    let email = unique_email();
    let answer = post_json(JOIN, signup(&email)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access", "refresh", "user"]);
    let pk = body["user"]["pk"].as_u64().expect("pk is a JSON integer");
    assert!(pk <= MAX_SAFE_INTEGER);
    assert_eq!(
        body["user"],
        json!({
            "pk": pk,
            "email": email,
            "first_name": "",
            "last_name": "",
            "gender": "",
            "date_of_birth": null,
        })
    );
    assert!(answer.set_cookies().is_empty(), "{:?}", answer.set_cookies());
}

#[tokio::test]
async fn join_tokens_are_simplejwt_tokens_of_one_new_session() {
    let session = new_user().await;
    let pk = session.pk().to_string();
    for (token, kind, lifetime) in [(&session.access, "access", 3600), (&session.refresh, "refresh", 86400)] {
        let header = jwt_header(token);
        assert!(header["alg"] == "HS256" || header["alg"] == "ES256", "{header}");
        assert!(header["kid"].as_str().is_some_and(|kid| !kid.is_empty()), "{header}");
        assert_eq!(
            header.as_object().map(|h| h.len()),
            Some(3),
            "alg, typ and kid only: {header}"
        );
        assert_eq!(header["typ"], "JWT");
        let claims = claims(token);
        assert_eq!(claims["iss"], json!(issuer()), "the issuer other services trust");
        assert_eq!(claims["token_type"], kind);
        assert_eq!(claims["user_id"], json!(pk), "user_id is the pk as a string");
        let (exp, iat) = (claims["exp"].as_i64().unwrap(), claims["iat"].as_i64().unwrap());
        assert_eq!(exp - iat, lifetime, "{kind} lifetime");
        assert!(is_id(&claims["jti"]), "{claims}");
    }
    let (access, refresh_claims) = (claims(&session.access), claims(&session.refresh));
    assert_ne!(access["jti"], refresh_claims["jti"]);
    assert_eq!(access["sid"], refresh_claims["sid"], "one session");
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    rotated(&refresh(&session.refresh).await);
}

#[tokio::test]
async fn each_user_gets_its_own_pk() {
    let (first, second) = (new_user().await, new_user().await);
    assert_ne!(first.pk(), second.pk());
}

#[tokio::test]
async fn the_email_is_stored_trimmed_and_lower_cased() {
    let email = unique_email();
    let sent = format!("  {}  ", email.to_uppercase());
    let answer = post_json(JOIN, signup(&sent)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["user"]["email"], email.as_str());
    let session = login(&email).await;
    assert_greeted(&mypage(&session.bearer()).await, &email);
}

#[tokio::test]
async fn optional_fields_are_stored_and_returned() {
    let email = unique_email();
    let more = json!({
        "gender": "female",
        "date_of_birth": "1990-02-03",
        "first_name": "길동",
        "last_name": "Hong",
    });
    let answer = post_json(JOIN, signup_with(&email, more)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let user = answer.json()["user"].clone();
    assert_eq!(
        user,
        json!({
            "pk": user["pk"],
            "email": email,
            "first_name": "길동",
            "last_name": "Hong",
            "gender": "female",
            "date_of_birth": "1990-02-03",
        })
    );
    assert_eq!(login(&email).await.user, user, "login shows what join stored");
}

#[tokio::test]
async fn every_valid_gender_and_date_of_birth_is_accepted() {
    let today = today().to_string();
    for (gender, date_of_birth) in [
        (json!("male"), json!(null)),
        (json!("female"), json!(today)),
        (json!(""), json!("2000-02-29")),
    ] {
        let email = unique_email();
        let more = json!({"gender": gender, "date_of_birth": date_of_birth});
        let answer = post_json(JOIN, signup_with(&email, more)).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let user = &answer.json()["user"];
        assert_eq!((&user["gender"], &user["date_of_birth"]), (&gender, &date_of_birth));
    }
}

#[tokio::test]
async fn unknown_keys_are_ignored() {
    let email = unique_email();
    let more = json!({"username": "someone", "is_staff": true, "is_superuser": true, "pk": 1});
    let answer = post_json(JOIN, signup_with(&email, more)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let user = answer.json()["user"].clone();
    assert_ne!(user["pk"], json!(1));
    let keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["pk", "email", "first_name", "last_name", "gender", "date_of_birth"]
    );
}

#[tokio::test]
async fn an_html_form_joins() {
    let email = unique_email();
    let form = format!(
        "email={}&password1={pw}&password2={pw}&gender=male&date_of_birth=1985-12-31&first_name={}",
        form_value(&email),
        form_value("길동"),
        pw = form_value(PASSWORD),
    );
    let answer = post_form(JOIN, &form, &[]).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let user = answer.json()["user"].clone();
    assert_eq!(
        (
            &user["email"],
            &user["gender"],
            &user["date_of_birth"],
            &user["first_name"]
        ),
        (&json!(email), &json!("male"), &json!("1985-12-31"), &json!("길동"))
    );
    login(&email).await;
}

#[tokio::test]
async fn an_html_form_gets_the_same_errors() {
    post_form(JOIN, "email=&password1=Xq7%21vR2&password2=b", &[])
        .await
        .expect(
            400,
            json!({
                "email": ["This field may not be blank."],
                "password1": ["This password is too short. It must contain at least 8 characters."],
            }),
        );
}

// --- The error rows ------------------------------------------------------------------------

#[tokio::test]
async fn an_empty_object_names_every_required_field() {
    refused(
        json!({}),
        json!({
            "email": ["This field is required."],
            "password1": ["This field is required."],
            "password2": ["This field is required."],
        }),
    )
    .await;
}

#[tokio::test]
async fn a_blank_email_is_refused() {
    for blank in ["", "   "] {
        refused(
            signup_with(&unique_email(), json!({"email": blank})),
            json!({"email": ["This field may not be blank."]}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_bad_email_is_refused() {
    for bad in [
        "not-an-email",
        "user@",
        "@example.com",
        "a b@example.com",
        "user@@example.com",
    ] {
        refused(
            signup_with(&unique_email(), json!({"email": bad})),
            json!({"email": ["Enter a valid email address."]}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_taken_email_is_refused_in_any_case() {
    let email = unique_email();
    join(&email).await;
    for again in [email.clone(), email.to_uppercase(), format!(" {email} ")] {
        refused(
            signup(&again),
            json!({"email": ["A user is already registered with this email address."]}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_taken_email_is_refused_whatever_the_case_it_was_joined_with() {
    let email = unique_email();
    join(&email.to_uppercase()).await;
    refused(
        signup(&email),
        json!({"email": ["A user is already registered with this email address."]}),
    )
    .await;
}

// --- One mailbox, one account: every spelling of an email is one form ----------------------

fn taken() -> Value {
    json!({"email": ["A user is already registered with this email address."]})
}

/// A unique local part (as `unique_email` makes it) at `domain`.
fn unique_at(domain: &str) -> String {
    let email = unique_email();
    let (local, _) = email.rsplit_once('@').expect("an email");
    format!("{local}@{domain}")
}

#[tokio::test]
async fn a_taken_email_is_refused_in_any_spelling_of_its_domain() {
    let email = unique_at("example.com");
    join(&email).await;
    let local = email.trim_end_matches("@example.com");
    for again in [
        format!("{local}@ｅｘａｍｐｌｅ.com"),
        format!("{local}@exam\u{ad}ple.com"),
        format!("{local}@EXAMPLE.\u{ff23}\u{ff2f}\u{ff2d}"),
    ] {
        refused(signup(&again), taken()).await;
    }
}

#[tokio::test]
async fn join_stores_and_returns_the_plain_form_and_login_takes_any_spelling() {
    let email = unique_at("example.com");
    let local = email.trim_end_matches("@example.com");
    let fullwidth = format!("{local}@ｅｘａｍｐｌｅ.com");
    let answer = post_json(JOIN, signup(&fullwidth)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let user = answer.json()["user"].clone();
    assert_eq!(user["email"], email.as_str());
    for spelling in [email.clone(), fullwidth, format!("{local}@exam\u{ad}ple.com")] {
        let session = login(&spelling).await;
        assert_eq!(session.user, user, "{spelling:?} logs into the one account");
        assert_greeted(&mypage(&session.bearer()).await, &email);
    }
}

#[tokio::test]
async fn an_idn_email_is_one_account_in_unicode_and_in_punycode() {
    // .example is reserved (RFC 2606), like example.com: no mail reaches it.
    let unicode = unique_at("bücher.example");
    let punycode = unicode.replace("bücher.example", "xn--bcher-kva.example");
    let answer = post_json(JOIN, signup(&unicode)).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let user = answer.json()["user"].clone();
    assert_eq!(user["email"], punycode.as_str(), "stored in its ASCII form");
    refused(signup(&punycode), taken()).await;
    refused(signup(&unicode.to_uppercase()), taken()).await;
    let session = login(&punycode).await;
    assert_eq!(session.user, user);
    assert_greeted(&mypage(&session.bearer()).await, &punycode);

    // And the other way round: joined in punycode, taken in Unicode.
    let punycode = unique_at("xn--bcher-kva.example");
    join(&punycode).await;
    refused(signup(&punycode.replace("xn--bcher-kva", "bücher")), taken()).await;
}

#[tokio::test]
async fn emails_django_refuses_are_refused() {
    for bad in [
        "a..b@example.com",
        ".ab@example.com",
        "ab.@example.com",
        "ab@example",
        "ab@example.c0m",
        "ab@-example.com",
        "ab@example.com.",
        "ab@exa_mple.com",
        // Accepted by the reference as sent, but its IDNA form (example.123) is not an email.
        "ab@example.\u{ff11}\u{ff12}\u{ff13}",
    ] {
        refused(
            signup_with(&unique_email(), json!({"email": bad})),
            json!({"email": ["Enter a valid email address."]}),
        )
        .await;
    }
}

const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const TOO_COMMON: &str = "This password is too common.";
const NUMERIC: &str = "This password is entirely numeric.";

fn with_password(email: &str, password: &str) -> Value {
    json!({"email": email, "password1": password, "password2": password})
}

#[tokio::test]
async fn a_short_password_is_refused() {
    refused(
        with_password(&unique_email(), "Xq7!vR2"),
        json!({"password1": [TOO_SHORT]}),
    )
    .await;
}

#[tokio::test]
async fn a_common_password_is_refused() {
    for common in ["password", "PASSWORD1", "qwertyuiop", "iloveyou"] {
        refused(
            with_password(&unique_email(), common),
            json!({"password1": [TOO_COMMON]}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_numeric_password_is_refused() {
    refused(
        with_password(&unique_email(), "83920174625"),
        json!({"password1": [NUMERIC]}),
    )
    .await;
}

#[tokio::test]
async fn every_password_rule_that_applies_is_listed_in_order() {
    refused(
        with_password(&unique_email(), "1234567"),
        json!({"password1": [TOO_SHORT, TOO_COMMON, NUMERIC]}),
    )
    .await;
    refused(
        with_password(&unique_email(), "12345678"),
        json!({"password1": [TOO_COMMON, NUMERIC]}),
    )
    .await;
    refused(
        with_password(&unique_email(), "8301"),
        json!({"password1": [TOO_SHORT, NUMERIC]}),
    )
    .await;
}

/// An email whose local part is `johnsmithers` (then unique), and a password like it.
fn similar_pair() -> (String, &'static str) {
    (format!("johnsmithers.{}@example.com", random_hex()), "johnsmithers1")
}

#[tokio::test]
async fn a_password_like_the_email_is_a_non_field_error() {
    let (email, password) = similar_pair();
    refused(
        with_password(&email, password),
        json!({"non_field_errors": ["The password is too similar to the email."]}),
    )
    .await;
}

#[tokio::test]
async fn similarity_is_only_checked_once_every_field_passed() {
    let (email, password) = similar_pair();
    refused(
        signup_with(
            &email,
            json!({"password1": password, "password2": password, "gender": "robot"}),
        ),
        json!({"gender": ["\"robot\" is not a valid choice."]}),
    )
    .await;
    refused(
        json!({"email": email, "password1": password, "password2": "johnsmithers2"}),
        json!({"non_field_errors": ["The two password fields didn't match."]}),
    )
    .await;
}

#[tokio::test]
async fn passwords_that_differ_are_refused() {
    refused(
        json!({"email": unique_email(), "password1": PASSWORD, "password2": NEW_PASSWORD}),
        json!({"non_field_errors": ["The two password fields didn't match."]}),
    )
    .await;
}

#[tokio::test]
async fn a_weak_password_is_reported_before_a_mismatch() {
    refused(
        json!({"email": unique_email(), "password1": "password", "password2": PASSWORD}),
        json!({"password1": [TOO_COMMON]}),
    )
    .await;
}

#[tokio::test]
async fn a_bad_gender_is_refused() {
    for bad in ["robot", "Male", "other"] {
        refused(
            signup_with(&unique_email(), json!({"gender": bad})),
            json!({"gender": [format!("\"{bad}\" is not a valid choice.")]}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_bad_date_of_birth_is_refused() {
    for bad in [
        "03/02/1990",
        "1990-13-01",
        "1990-02-30",
        "not a date",
        "1990-02-03T00:00:00",
    ] {
        refused(
            signup_with(&unique_email(), json!({"date_of_birth": bad})),
            json!({"date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        )
        .await;
    }
}

#[tokio::test]
async fn a_future_date_of_birth_is_refused() {
    let soon = (today() + time::Duration::days(2)).to_string();
    for future in [soon.as_str(), "2999-01-01"] {
        refused(
            signup_with(&unique_email(), json!({"date_of_birth": future})),
            json!({"date_of_birth": ["Date of birth cannot be in the future."]}),
        )
        .await;
    }
}

#[tokio::test]
async fn every_field_error_is_reported_at_once() {
    refused(
        json!({
            "email": "not-an-email",
            "password1": "1234567",
            "password2": "1234567",
            "gender": "robot",
            "date_of_birth": "1990/01/01",
        }),
        json!({
            "email": ["Enter a valid email address."],
            "password1": [TOO_SHORT, TOO_COMMON, NUMERIC],
            "gender": ["\"robot\" is not a valid choice."],
            "date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
        }),
    )
    .await;
}

#[tokio::test]
async fn a_refused_join_creates_no_user() {
    let email = unique_email();
    refused(
        json!({"email": email, "password1": PASSWORD, "password2": NEW_PASSWORD}),
        json!({"non_field_errors": ["The two password fields didn't match."]}),
    )
    .await;
    post_json(LOGIN, json!({"email": email, "password": PASSWORD}))
        .await
        .expect(
            400,
            json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        );
    join(&email).await;
}
