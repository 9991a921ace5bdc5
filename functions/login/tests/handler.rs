//! Handler tests for POST /account/login/ over the memory store (contract §1, §4 login).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use login::handle;
use shared::App;
use shared::store::{EventKind, EventSubject, MemoryStore};
use shared::testing::{
    PASSWORD, app, app_with, assert_400, assert_post_route_conventions, assert_security_headers, assert_token_cookie,
    assert_unavailable, body_json, cookie_attributes, create_user, event, header, post_json, recorded, set_cookie,
    set_cookies,
};
use shared::tokens::TokenKind;

const PATH: &str = "/account/login/";
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

async fn login_with(app: &App<MemoryStore>, body: Value) -> Response<Body> {
    handle(app, post_json(PATH, &body, &[])).await
}

fn credentials(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

#[tokio::test]
async fn login_answers_tokens_and_the_user_object() {
    let app = app();
    let user = create_user(&app, "user@example.com", PASSWORD).await;
    let response = login_with(&app, credentials("user@example.com", PASSWORD)).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    let body = body_json(&response);
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access", "refresh", "user"]);
    assert_eq!(
        body["user"],
        json!({"pk": user.id, "email": "user@example.com", "first_name": "", "last_name": "", "gender": "",
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
    assert_eq!((access.user_id, refresh.user_id), (user.id, user.id));
    assert_eq!(access.session_id, refresh.session_id);
    let session = app
        .store
        .session(user.id, &access.session_id)
        .expect("login starts a session");
    assert_eq!(session.refresh_jti, refresh.jti);
    assert!(!session.revoked);
    assert!(
        app.store.user(user.id).unwrap().last_login.is_some(),
        "last_login is recorded"
    );
}

#[tokio::test]
async fn login_sets_hardened_token_cookies() {
    let app = app();
    create_user(&app, "cookie@example.com", PASSWORD).await;
    let response = login_with(&app, credentials("cookie@example.com", PASSWORD)).await;
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    assert_eq!(set_cookies(&response).len(), 2);
    let expected = [
        ("my-app-auth", "access", "Max-Age=3600"),
        ("my-refresh-token", "refresh", "Max-Age=86400"),
    ];
    for (name, token, max_age) in expected {
        assert_token_cookie(&response, name, body[token].as_str().unwrap(), max_age);
    }
}

#[tokio::test]
async fn login_cookies_follow_the_configured_lifetimes_and_secure_flag() {
    let settings = [
        ("ACCESS_TOKEN_LIFETIME_SECONDS", "600"),
        ("REFRESH_TOKEN_LIFETIME_SECONDS", "7200"),
        ("COOKIE_SECURE", "false"),
    ];
    let app = app_with(&settings);
    create_user(&app, "config@example.com", PASSWORD).await;
    let response = login_with(&app, credentials("config@example.com", PASSWORD)).await;
    assert_eq!(response.status(), 200);
    let access = set_cookie(&response, "my-app-auth").unwrap();
    let refresh = set_cookie(&response, "my-refresh-token").unwrap();
    assert!(cookie_attributes(&access).contains(&"Max-Age=600"), "{access}");
    assert!(cookie_attributes(&refresh).contains(&"Max-Age=7200"), "{refresh}");
    assert!(!cookie_attributes(&access).contains(&"Secure") && !cookie_attributes(&refresh).contains(&"Secure"));
    assert!(cookie_attributes(&access).contains(&"HttpOnly"));
}

#[tokio::test]
async fn login_matches_the_email_case_insensitively() {
    let app = app();
    let user = create_user(&app, "lower@x.com", PASSWORD).await;
    let response = login_with(&app, credentials(" LOWER@X.COM ", PASSWORD)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["user"]["pk"], user.id);
    assert_eq!(body_json(&response)["user"]["email"], "lower@x.com");
}

#[tokio::test]
async fn login_accepts_an_html_form_body() {
    let app = app();
    create_user(&app, "form@example.com", PASSWORD).await;
    let form = format!("email=form%40example.com&password={PASSWORD}");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let response = handle(&app, event("POST", PATH, &headers, Some(&form))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["user"]["email"], "form@example.com");
}

/// Login CSRF: an attacker's page posts a form with the attacker's credentials, and the victim's
/// browser would be signed in to the attacker's account (SameSite=Lax lets a top-level POST
/// through). A browser says where the form came from: only trusted origins sign anyone in.
#[tokio::test]
async fn a_cross_site_form_signs_nobody_in() {
    let app = app_with(&[("ALLOWED_ORIGINS", "https://app.example.com")]);
    create_user(&app, "attacker@example.com", PASSWORD).await;
    let form = format!("email=attacker%40example.com&password={PASSWORD}");
    for browser in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
    ] {
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        headers.extend(browser.iter().copied());
        let response = handle(&app, event("POST", PATH, &headers, Some(&form))).await;
        assert_eq!(response.status(), 403, "{browser:?}");
        assert_eq!(
            body_json(&response),
            json!({"detail": "CSRF Failed: Origin checking failed - the request's origin is not a trusted origin."})
        );
        assert!(set_cookies(&response).is_empty(), "no cookie for {browser:?}");
    }
    assert_eq!(
        app.store.throttle("attacker@example.com"),
        None,
        "no password was checked"
    );
    // The same form from the front end's own origin signs in.
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "https://app.example.com"),
    ];
    let response = handle(&app, event("POST", PATH, &headers, Some(&form))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn login_answers_without_the_trailing_slash_too() {
    let app = app();
    create_user(&app, "noslash@example.com", PASSWORD).await;
    let request = post_json("/account/login", &credentials("noslash@example.com", PASSWORD), &[]);
    let response = handle(&app, request).await;
    assert_eq!(response.status(), 200);
    assert!(set_cookie(&response, "my-app-auth").is_some());
}

#[tokio::test]
async fn each_login_starts_its_own_session() {
    let app = app();
    create_user(&app, "twice@example.com", PASSWORD).await;
    let first = body_json(&login_with(&app, credentials("twice@example.com", PASSWORD)).await);
    let second = body_json(&login_with(&app, credentials("twice@example.com", PASSWORD)).await);
    let sid = |body: &Value| {
        let refresh = body["refresh"].as_str().unwrap();
        app.tokens.verify(refresh, TokenKind::Refresh).unwrap().session_id
    };
    assert_ne!(sid(&first), sid(&second));
}

#[tokio::test]
async fn login_refuses_a_wrong_password() {
    let app = app();
    create_user(&app, "user@example.com", PASSWORD).await;
    let body = credentials("user@example.com", "Tutorial-Pw!7318");
    assert_400(
        &login_with(&app, body).await,
        &json!({"non_field_errors": [BAD_CREDENTIALS]}),
    );
}

#[tokio::test]
async fn login_refuses_an_unknown_email_with_the_same_answer() {
    let app = app();
    let body = credentials("nobody@example.com", PASSWORD);
    assert_400(
        &login_with(&app, body).await,
        &json!({"non_field_errors": [BAD_CREDENTIALS]}),
    );
}

#[tokio::test]
async fn login_refuses_an_inactive_user_with_the_same_answer() {
    let app = app();
    let user = create_user(&app, "inactive@example.com", PASSWORD).await;
    app.store.set_active(user.id, false);
    let body = credentials("inactive@example.com", PASSWORD);
    assert_400(
        &login_with(&app, body).await,
        &json!({"non_field_errors": [BAD_CREDENTIALS]}),
    );
    app.store.set_active(user.id, true);
    assert_eq!(
        login_with(&app, credentials("inactive@example.com", PASSWORD))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn login_without_a_password_says_it_is_required() {
    let expected = json!({"password": ["This field is required."]});
    assert_400(
        &login_with(&app(), json!({"email": "user@example.com"})).await,
        &expected,
    );
    assert_400(&login_with(&app(), json!({})).await, &expected);
}

#[tokio::test]
async fn login_without_an_email_asks_for_both() {
    let expected = json!({"non_field_errors": ["Must include \"email\" and \"password\"."]});
    assert_400(&login_with(&app(), json!({"password": PASSWORD})).await, &expected);
    assert_400(
        &login_with(&app(), json!({"email": "", "password": PASSWORD})).await,
        &expected,
    );
}

#[tokio::test]
async fn login_refuses_a_bad_email() {
    let expected = json!({"email": ["Enter a valid email address."]});
    assert_400(
        &login_with(&app(), credentials("not-an-email", PASSWORD)).await,
        &expected,
    );
}

#[tokio::test]
async fn login_refuses_other_media_types_with_415() {
    let headers = [("content-type", "text/plain")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("hello"))).await;
    assert_eq!(response.status(), 415);
    assert_eq!(
        body_json(&response),
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
}

#[tokio::test]
async fn login_refuses_malformed_json_and_non_objects_with_400() {
    let headers = [("content-type", "application/json")];
    let response = handle(&app(), event("POST", PATH, &headers, Some("{not json"))).await;
    assert_eq!(response.status(), 400);
    assert!(
        body_json(&response)["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - ")
    );
    let response = handle(&app(), event("POST", PATH, &headers, Some("[1, 2]"))).await;
    assert_eq!(response.status(), 400);
    let expected = json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]});
    assert_eq!(body_json(&response), expected);
}

#[tokio::test]
async fn login_refuses_bodies_over_64_kib_with_413() {
    let response = login_with(&app(), credentials("big@example.com", &"x".repeat(70_000))).await;
    assert_eq!(response.status(), 413);
    assert_eq!(body_json(&response), json!({"detail": "Request body too large."}));
}

#[tokio::test]
async fn login_answers_503_with_retry_after_when_the_store_is_down() {
    let app = app();
    create_user(&app, "down@example.com", PASSWORD).await;
    app.store.set_unavailable(true);
    let response = login_with(&app, credentials("down@example.com", PASSWORD)).await;
    assert_unavailable(&response);
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test]
async fn login_follows_the_route_conventions() {
    let app = app();
    let foreign = ["/account/join/", "/account/login/x", "/account/logins"];
    assert_post_route_conventions(|request| handle(&app, request), PATH, "Login", &foreign).await;
}

// --- The brute-force throttle ---------------------------------------------------------------

/// DRF's `Throttled` detail: "1 second", "2 seconds".
fn throttled_detail(seconds: i64) -> String {
    let unit = if seconds == 1 { "second" } else { "seconds" };
    format!("Request was throttled. Expected available in {seconds} {unit}.")
}

/// The status of each of `wrong` failed logins followed by one with `password`; every 429 is
/// checked on the way: DRF's body, and a `Retry-After` of whole seconds left of `lockout`
/// (one less if a second boundary passed since the lock).
async fn attempts(app: &App<MemoryStore>, email: &str, wrong: usize, password: &str, lockout: i64) -> Vec<u16> {
    let mut statuses = Vec::new();
    for attempt in 0..=wrong {
        let password = if attempt == wrong { password } else { "Wrong-Guess!4402" };
        let response = login_with(app, credentials(email, password)).await;
        let status = response.status().as_u16();
        if status == 429 {
            let seconds: i64 = header(&response, "retry-after")
                .and_then(|value| value.parse().ok())
                .expect("Retry-After");
            assert!((lockout - 1..=lockout).contains(&seconds), "Retry-After {seconds}");
            let detail = throttled_detail(seconds);
            assert_eq!(body_json(&response), json!({"detail": detail}));
            assert_security_headers(&response);
            assert!(set_cookies(&response).is_empty(), "no tokens while throttled");
        } else if status == 400 {
            assert_eq!(body_json(&response), json!({"non_field_errors": [BAD_CREDENTIALS]}));
        }
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn five_failures_lock_the_email_out_even_for_the_right_password() {
    let app = app();
    create_user(&app, "ada@example.com", PASSWORD).await;
    let statuses = attempts(&app, "ada@example.com", 6, PASSWORD, 60).await;
    assert_eq!(statuses, [400, 400, 400, 400, 400, 429, 429]);
}

#[tokio::test]
async fn unknown_emails_are_throttled_exactly_alike() {
    let app = app();
    create_user(&app, "ada@example.com", PASSWORD).await;
    let known = attempts(&app, "ada@example.com", 6, PASSWORD, 60).await;
    let unknown = attempts(&app, "nobody@example.com", 6, PASSWORD, 60).await;
    assert_eq!(known, unknown);
}

#[tokio::test]
async fn a_success_before_the_threshold_starts_the_count_again() {
    let app = app();
    create_user(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(
        attempts(&app, "ada@example.com", 4, PASSWORD, 60).await.last(),
        Some(&200)
    );
    assert_eq!(
        attempts(&app, "ada@example.com", 4, PASSWORD, 60).await.last(),
        Some(&200),
        "four more failures do not lock"
    );
}

#[tokio::test]
async fn the_email_is_throttled_whatever_its_case_and_the_numbers_are_configurable() {
    let app = app_with(&[
        ("LOGIN_THROTTLE_FAILURES", "2"),
        ("LOGIN_THROTTLE_LOCKOUT_SECONDS", "30"),
    ]);
    create_user(&app, "ada@example.com", PASSWORD).await;
    login_with(&app, credentials("ada@example.com", "Wrong-Guess!4402")).await;
    login_with(&app, credentials("ADA@Example.com", "Wrong-Guess!4402")).await;
    assert_eq!(attempts(&app, "Ada@example.com", 0, PASSWORD, 30).await, [429]);
    let off = app_with(&[("LOGIN_THROTTLE_FAILURES", "0")]);
    create_user(&off, "ada@example.com", PASSWORD).await;
    assert_eq!(
        attempts(&off, "ada@example.com", 20, PASSWORD, 60).await.last(),
        Some(&200),
        "off means off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_never_get_more_checks_than_the_limit() {
    let app = std::sync::Arc::new(app());
    create_user(&app, "ada@example.com", PASSWORD).await;
    let guesses = (0..24).map(|_| {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move {
            login_with(&app, credentials("ada@example.com", "Wrong-Guess!4402"))
                .await
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|status| **status == 400).count();
    let throttled = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!((checked, throttled), (5, 19), "{statuses:?}");
    let record = app.store.throttle("ada@example.com").expect("a record");
    assert_eq!(record.failures, 5);
}

#[tokio::test]
async fn a_lockout_is_remembered_past_its_end_so_the_next_failure_doubles_it() {
    let app = app();
    create_user(&app, "ada@example.com", PASSWORD).await;
    attempts(&app, "ada@example.com", 5, "Wrong-Guess!4402", 60).await;
    let record = app.store.throttle("ada@example.com").expect("a record");
    assert_eq!(record.failures, 5);
    assert!(
        record.expires_at >= record.locked_until + 86_400,
        "remembered a day past the lockout: {record:?}"
    );
}

#[tokio::test]
async fn a_right_password_forgets_the_failures() {
    let app = app();
    create_user(&app, "ada@example.com", PASSWORD).await;
    attempts(&app, "ada@example.com", 3, PASSWORD, 60).await;
    assert_eq!(app.store.throttle("ada@example.com"), None);
}

#[tokio::test]
async fn a_login_records_its_device_and_the_gateways_source_address_not_a_forwarded_one() {
    use shared::store::SessionListStore;
    let app = app();
    let user = create_user(&app, "device@example.com", PASSWORD).await;
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let headers = [("user-agent", firefox), ("x-forwarded-for", "198.51.100.66")];
    let response = handle(
        &app,
        post_json(PATH, &credentials("device@example.com", PASSWORD), &headers),
    )
    .await;
    assert_eq!(response.status(), 200);
    let sessions = app.store.list_sessions(user.id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].device, "Firefox on Linux");
    // The REST event's requestContext.identity.sourceIp (shared::testing puts 127.0.0.1 there).
    assert_eq!(sessions[0].ip.as_deref(), Some("127.0.0.1"));
    assert!(sessions[0].created_at > 0 && sessions[0].created_at == sessions[0].last_used_at);
}

#[tokio::test]
async fn mandatory_verification_refuses_an_unverified_address_only_with_the_right_password() {
    let app = app_with(&[("EMAIL_VERIFICATION", "mandatory")]);
    let user = create_user(&app, "unverified@example.com", PASSWORD).await;
    let wrong = login_with(&app, credentials("unverified@example.com", "Wrong-Pw!7319")).await;
    assert_eq!(body_json(&wrong), json!({"non_field_errors": [BAD_CREDENTIALS]}));
    let refused = login_with(&app, credentials("unverified@example.com", PASSWORD)).await;
    assert_eq!(refused.status(), 400);
    assert_security_headers(&refused);
    assert_eq!(
        body_json(&refused),
        json!({"non_field_errors": [login::EMAIL_NOT_VERIFIED]})
    );
    assert!(set_cookies(&refused).is_empty());
    assert_eq!(
        app.store.throttle("unverified@example.com"),
        None,
        "the right password's guesses are forgotten"
    );
    use shared::store::EmailStore;
    assert!(
        app.store
            .mark_email_verified(user.id, "unverified@example.com")
            .await
            .unwrap()
    );
    assert_eq!(
        login_with(&app, credentials("unverified@example.com", PASSWORD))
            .await
            .status(),
        200
    );
    // Optional verification never holds a login back.
    let optional = app_with(&[("EMAIL_VERIFICATION", "optional")]);
    create_user(&optional, "later@example.com", PASSWORD).await;
    assert_eq!(
        login_with(&optional, credentials("later@example.com", PASSWORD))
            .await
            .status(),
        200
    );
}

// --- Security events ----------------------------------------------------------------------------

#[tokio::test]
async fn a_login_is_recorded_with_its_session_and_logged_once_it_started() {
    let app = app();
    let user = create_user(&app, "events@example.com", PASSWORD).await;
    let (logs, _guard) = shared::testing::capture_logs();
    let headers = [(
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )];
    let response = handle(
        &app,
        post_json(PATH, &credentials("events@example.com", PASSWORD), &headers),
    )
    .await;
    assert_eq!(response.status(), 200);
    let logins = recorded(&app, EventKind::Login);
    assert_eq!(logins.len(), 1);
    let login = &logins[0];
    assert_eq!(
        (login.user.clone(), login.actor),
        (EventSubject::User(user.id), Some(user.id))
    );
    assert_eq!(login.ip.as_deref(), Some("127.0.0.1"), "the REST API's sourceIp");
    assert_eq!(login.device.as_deref(), Some("Firefox on Linux"));
    let lines = logs.security_events();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert_eq!(lines[0]["fields"]["event_id"], login.id.as_str());
    assert_eq!(lines[0]["fields"]["event_type"], "login");
    assert_eq!(lines[0]["fields"]["user"], user.id.to_string());
}

#[tokio::test]
async fn each_failed_login_is_recorded_with_its_reason_and_an_unknown_address_by_its_keyed_hash() {
    let app = app();
    let user = create_user(&app, "ada@example.com", PASSWORD).await;
    let inactive = create_user(&app, "gone@example.com", PASSWORD).await;
    app.store.set_active(inactive.id, false);
    let (logs, _guard) = shared::testing::capture_logs();
    for (email, password) in [
        ("ada@example.com", "Wrong-Guess!4402"),
        ("gone@example.com", PASSWORD),
        ("nobody@example.com", PASSWORD),
        ("NOBODY@example.com", "Another-Guess!11"),
    ] {
        assert_eq!(login_with(&app, credentials(email, password)).await.status(), 400);
    }
    let failed = recorded(&app, EventKind::LoginFailed);
    let reasons: Vec<(EventSubject, &str)> = failed
        .iter()
        .map(|event| (event.user.clone(), event.detail["reason"].as_str()))
        .collect();
    let EventSubject::Address(tag) = &failed[2].user else {
        panic!("an unknown address is no user: {:?}", failed[2]);
    };
    assert_eq!(
        reasons,
        [
            (EventSubject::User(user.id), "wrong_password"),
            (EventSubject::User(inactive.id), "inactive"),
            (EventSubject::Address(tag.clone()), "unknown_address"),
            (EventSubject::Address(tag.clone()), "unknown_address"),
        ],
        "one address, canonicalised, is one subject"
    );
    assert!(
        tag.starts_with("address:") && tag.len() == "address:".len() + 32,
        "{tag}"
    );
    assert!(
        failed.iter().all(|event| event.actor.is_none()),
        "nobody is known to have acted"
    );
    assert!(recorded(&app, EventKind::Login).is_empty());
    assert!(
        !logs.text().contains("nobody@"),
        "the address is never logged: {}",
        logs.text()
    );
    assert!(!format!("{failed:?}").contains("nobody@"), "nor stored");
    assert_eq!(logs.security_events().len(), 4);
}

#[tokio::test]
async fn a_throttled_login_is_recorded_as_such() {
    let app = app();
    let user = create_user(&app, "ada@example.com", PASSWORD).await;
    let statuses = attempts(&app, "ada@example.com", 6, PASSWORD, 60).await;
    assert_eq!(statuses, [400, 400, 400, 400, 400, 429, 429]);
    assert_eq!(recorded(&app, EventKind::LoginFailed).len(), 5);
    let throttled = recorded(&app, EventKind::LoginThrottled);
    assert_eq!(throttled.len(), 2);
    assert!(throttled.iter().all(|event| event.user == EventSubject::User(user.id)));
}
