//! The logs, at the most verbose level, hold no secret. Full flows — join, a refused and an
//! accepted login, mypage, the user's details read and changed, token verify, refresh by body
//! and by cookie, password change, logout — run through
//! the real handlers, inside the request span the functions use, over the real `DynamoStore`
//! and the local server (so the SDK and HTTP stack log too), with the functions' own subscriber
//! at TRACE in Lambda's JSON format, capturing everything. Then: no password, token, password
//! hash, signing key, `Authorization` value or cookie value appears; the user id does.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::App;
use shared::ids::random_id;
use shared::store::{DynamoStore, UserStore};
use shared::testing::{TEST_SIGNING_KEY, bearer, body_json, post_json, test_config};
use tracing_subscriber::filter::LevelFilter;

const PASSWORD: &str = "Tutorial-Pw!7319";
const WRONG_PASSWORD: &str = "Wrong-Guess!4402";
const NEW_PASSWORD: &str = "Another-Pw!5521";

/// Everything logged, as written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

async fn serve<F, Fut>(handler: F, request: Request) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    shared::logging::in_request_span(request, handler).await
}

/// The access token of the body and the refresh token of the cookie (a refresh by cookie puts
/// the next refresh token in the cookie alone).
fn tokens_by_cookie_of(response: &Response<Body>) -> (String, String) {
    let body = body_json(response);
    let refresh = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| cookie.strip_prefix("my-refresh-token="))
        .and_then(|rest| rest.split(';').next())
        .expect("the refresh cookie")
        .to_owned();
    (body["access"].as_str().expect("access").to_owned(), refresh)
}

fn tokens_of(response: &Response<Body>) -> (String, String) {
    let body = body_json(response);
    (
        body["access"].as_str().expect("access").to_owned(),
        body["refresh"].as_str().expect("refresh").to_owned(),
    )
}

#[tokio::test]
async fn full_flows_at_trace_level_log_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(shared::logging::subscriber(
        move || writer.clone(),
        LevelFilter::TRACE,
        "trace",
        true,
    ))
    .expect("the only subscriber of this test binary");

    let store = DynamoStore::connect(e2e::fresh_local_table("log-test").await).await;
    let app: App<DynamoStore> = App::new(test_config(&[]), store);
    let app = &app;
    let email = format!("logs-{}@example.com", random_id());
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        WRONG_PASSWORD.into(),
        NEW_PASSWORD.into(),
        TEST_SIGNING_KEY.into(),
    ];

    let signup = json!({"email": email, "password1": PASSWORD, "password2": PASSWORD, "first_name": "Ada"});
    let response = serve(|r| join::handle(app, r), post_json("/account/join/", &signup, &[])).await;
    assert_eq!(response.status().as_u16(), 201);
    let (access, refresh) = tokens_of(&response);
    let user_id = body_json(&response)["user"]["pk"].as_u64().expect("pk");

    let wrong = json!({"email": email, "password": WRONG_PASSWORD});
    let response = serve(|r| login::handle(app, r), post_json("/account/login/", &wrong, &[])).await;
    assert_eq!(response.status().as_u16(), 400);
    let right = json!({"email": email.to_uppercase(), "password": PASSWORD});
    let response = serve(|r| login::handle(app, r), post_json("/account/login/", &right, &[])).await;
    assert_eq!(response.status().as_u16(), 200);
    let (login_access, login_refresh) = tokens_of(&response);

    let mypage = shared::testing::event("GET", "/account/mypage/", &[("authorization", &bearer(&access))], None);
    let response = serve(|r| mypage::handle(app, r), mypage).await;
    assert_eq!(response.status().as_u16(), 200);

    let details = shared::testing::event("GET", "/account/user/", &[("authorization", &bearer(&access))], None);
    let response = serve(|r| user::handle(app, r), details).await;
    assert_eq!(response.status().as_u16(), 200);
    let change = json!({"first_name": "Grace", "date_of_birth": "1906-12-09"}).to_string();
    let headers = [
        ("authorization", bearer(&access)),
        ("content-type", "application/json".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let patch = shared::testing::event("PATCH", "/account/user/", &headers, Some(&change));
    let response = serve(|r| user::handle(app, r), patch).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));

    for token in [&access, &refresh] {
        let response = serve(
            |r| token_verify::handle(app, r),
            post_json("/account/token/verify/", &json!({"token": token}), &[]),
        )
        .await;
        assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    }

    let response = serve(
        |r| refresh::handle(app, r),
        post_json("/account/token/refresh/", &json!({"refresh": refresh}), &[]),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let (rotated_access, rotated_refresh) = tokens_of(&response);

    // A damaged token sent to verify: refused, and neither it nor the token it came from logged.
    let response = serve(
        |r| token_verify::handle(app, r),
        post_json("/account/token/verify/", &json!({"token": format!("{refresh}x")}), &[]),
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
    let cookie = format!("my-refresh-token={rotated_refresh}; my-app-auth={rotated_access}");
    let response = serve(
        |r| refresh::handle(app, r),
        post_json("/account/token/refresh/", &json!({}), &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let (cookie_access, cookie_refresh) = tokens_by_cookie_of(&response);

    let change = json!({"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD});
    let response = serve(
        |r| password_change::handle(app, r),
        post_json(
            "/account/password/change/",
            &change,
            &[("authorization", &bearer(&cookie_access))],
        ),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));

    let response = serve(
        |r| logout::handle(app, r),
        post_json("/account/logout/", &json!({"refresh": cookie_refresh}), &[]),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));

    // Issue 13: the sessions listed, one ended, the others revoked, the account deleted (a wrong
    // password first), from two fresh logins with the new password.
    let again = json!({"email": email, "password": NEW_PASSWORD});
    let response = serve(|r| login::handle(app, r), post_json("/account/login/", &again, &[])).await;
    let (phone_access, phone_refresh) = tokens_of(&response);
    let response = serve(|r| login::handle(app, r), post_json("/account/login/", &again, &[])).await;
    let (tablet_access, tablet_refresh) = tokens_of(&response);
    let listed = shared::testing::event(
        "GET",
        "/account/sessions/",
        &[("authorization", &bearer(&phone_access))],
        None,
    );
    let response = serve(|r| sessions::handle(app, r), listed).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let tablet = app
        .tokens
        .verify(&tablet_access, shared::tokens::TokenKind::Access)
        .expect("ours")
        .session_id;
    let end = shared::testing::event(
        "DELETE",
        &format!("/account/sessions/{tablet}/"),
        &[("authorization", &bearer(&phone_access))],
        None,
    );
    assert_eq!(serve(|r| sessions::handle(app, r), end).await.status().as_u16(), 204);
    let revoke = post_json(
        "/account/sessions/revoke-others/",
        &json!({}),
        &[("authorization", &bearer(&phone_access))],
    );
    let response = serve(|r| sessions_revoke_others::handle(app, r), revoke).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let user = app.store.find_by_email(&email).await.expect("store").expect("the user");
    secrets.push(user.password_hash.clone());
    for password in [WRONG_PASSWORD, NEW_PASSWORD] {
        let delete = post_json(
            "/account/user/delete/",
            &json!({"password": password}),
            &[("authorization", &bearer(&phone_access))],
        );
        let response = serve(|r| user_delete::handle(app, r), delete).await;
        assert!(
            [204, 400].contains(&response.status().as_u16()),
            "{:?}",
            response.body()
        );
    }
    assert!(
        app.store.find_by_email(&email).await.expect("store").is_none(),
        "deleted"
    );

    // What lambda_runtime logs at TRACE for every invocation: the raw event.
    let raw_event = json!({"body": signup.to_string(), "headers": {"authorization": bearer(&access)}});
    tracing::trace!(target: "lambda_runtime::layers::api_response", body = %raw_event, "raw JSON event received from Lambda");

    for token in [
        access,
        refresh,
        login_access,
        login_refresh,
        rotated_access,
        rotated_refresh,
        cookie_access,
        cookie_refresh,
        phone_access,
        phone_refresh,
        tablet_access,
        tablet_refresh,
    ] {
        let signature = token.rsplit('.').next().expect("a JWT").to_owned();
        secrets.push(signature);
        secrets.push(token);
    }
    // ES256: the private key (PEM and each of its base64 lines) never reaches the logs either,
    // through a join, a login, a refresh, nor a re-read of the key files that replaces it.
    let keys = std::env::temp_dir().join(format!("log-test-keys-{}", random_id()));
    std::fs::create_dir_all(&keys).expect("a key folder");
    let (first, second) = (
        shared::tokens::keys::new_es256_pem().expect("key"),
        shared::tokens::keys::new_es256_pem().expect("key"),
    );
    for pem in [&first, &second] {
        secrets.push(pem.trim().to_owned());
        secrets.extend(pem.lines().filter(|line| !line.starts_with("-----")).map(str::to_owned));
    }
    let es_store = DynamoStore::connect(e2e::fresh_local_table("log-test-es256").await).await;
    let es_config = test_config(&[
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_SIGNING_KEY", &first),
        ("JWT_ISSUER", "https://api.example.com/account"),
    ]);
    let mut es_app: App<DynamoStore> = App::new(es_config, es_store);
    std::fs::write(keys.join("current.pem"), &second).expect("key file");
    std::fs::write(keys.join("previous.pem"), &first).expect("key file");
    es_app.key_refresh = Some(shared::tokens::source::KeyRefresh::new(
        shared::tokens::source::KeySource::Files {
            current: keys.join("current.pem"),
            previous: Some(keys.join("previous.pem")),
        },
        shared::tokens::keys::JwtAlgorithm::Es256,
        0,
        0,
    ));
    let es_app = &es_app;
    let es_email = format!("logs-es-{}@example.com", random_id());
    let signup = json!({"email": es_email, "password1": PASSWORD, "password2": PASSWORD});
    let response = serve(|r| join::handle(es_app, r), post_json("/account/join/", &signup, &[])).await;
    assert_eq!(response.status().as_u16(), 201);
    let (es_access, es_refresh) = tokens_of(&response);
    es_app.refresh_keys().await;
    let kid = |token: &str| e2e::jwt_header(token)["kid"].clone();
    let response = serve(
        |r| refresh::handle(es_app, r),
        post_json("/account/token/refresh/", &json!({"refresh": es_refresh}), &[]),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "the previous key still verifies");
    let (es_rotated_access, es_rotated_refresh) = tokens_of(&response);
    assert_ne!(kid(&es_rotated_access), kid(&es_access), "the re-read key signs");
    std::fs::remove_dir_all(&keys).expect("key folder removed");
    for token in [es_access, es_refresh, es_rotated_access, es_rotated_refresh] {
        secrets.push(token.rsplit('.').next().expect("a JWT").to_owned());
        secrets.push(token);
    }

    let logs = captured.text();
    assert!(logs.contains("signing keys replaced"), "the re-read is logged (by kid)");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {}…",
            &secret[..6]
        );
    }
    assert!(
        !logs.to_lowercase().contains("bearer "),
        "an Authorization value reached the logs"
    );

    // The logs are there, at the verbose level asked, with the ids.
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["level"] == "DEBUG"),
        "DEBUG lines are logged"
    );
    let with_user = |message: &str| {
        lines
            .iter()
            .any(|line| line["fields"]["message"] == message && line["span"]["user_id"] == json!(user_id))
    };
    assert!(with_user("logged in"), "login's line carries the user id");
    assert!(with_user("account deleted"), "the deletion's line carries the user id");
    assert!(with_user("answered"), "answers carry the user id once known");
    println!("{} log lines, {} secrets checked", lines.len(), secrets.len());
}
