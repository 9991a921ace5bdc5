//! The deployed front door sends REST API (payload 1.0) events; the local router sends HTTP API
//! (2.0) ones. These tests send the files of `events/` straight to the real function binaries
//! through the emulator's Lambda Invoke API, so the REST path (parsing the event, and writing
//! the answer with both cookies in `multiValueHeaders`) runs in the binaries Lambda runs.

use e2e::*;
use serde_json::{Value, json};

/// The event file with a fresh email and, where it has placeholders, these tokens.
fn event(name: &str, email: &str, access: &str, refresh: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(path)
        .expect("the event file")
        .replace("ada@example.com", email)
        .replace("REPLACE_WITH_ACCESS_TOKEN", access)
        .replace("REPLACE_WITH_REFRESH_TOKEN", refresh)
}

/// Invokes `function` with `event` as Lambda would and returns its answer object.
async fn invoke(function: &str, event: String) -> Value {
    let url = format!("{}/2015-03-31/functions/{function}/invocations", api_url());
    let response = client()
        .post(url)
        .body(event)
        .send()
        .await
        .expect("the emulator answers");
    assert_eq!(response.status(), 200, "the invocation itself succeeds");
    response.json().await.expect("the function's answer object")
}

/// A header of a REST API answer: lambda_http writes every header into `multiValueHeaders`.
fn header_values(answer: &Value, name: &str) -> Vec<String> {
    answer["multiValueHeaders"][name]
        .as_array()
        .map(|values| values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("a text body")).expect("a JSON body")
}

#[tokio::test]
async fn rest_api_events_walk_an_account_through_the_real_binaries() {
    let email = unique_email();
    let joined = invoke("join", event("join-no-slash.json", &email, "", "")).await;
    assert_eq!(joined["statusCode"], 201, "{joined}");

    let logged_in = invoke("login", event("login.json", &email, "", "")).await;
    assert_eq!(logged_in["statusCode"], 200, "{logged_in}");
    // Two cookies: API Gateway v1 takes repeated headers from multiValueHeaders only.
    let cookies = header_values(&logged_in, "set-cookie");
    assert_eq!(cookies.len(), 2, "{logged_in}");
    assert!(cookies[0].starts_with("my-app-auth=") && cookies[1].starts_with("my-refresh-token="));
    assert!(logged_in["headers"].get("set-cookie").is_none(), "{logged_in}");
    let tokens = body(&logged_in);
    let (access, refresh) = (
        tokens["access"].as_str().expect("access"),
        tokens["refresh"].as_str().expect("refresh"),
    );

    for page in ["mypage.json", "mypage-no-slash.json"] {
        let answer = invoke("mypage", event(page, &email, access, refresh)).await;
        assert_eq!(answer["statusCode"], 200, "{page}: {answer}");
        assert_eq!(body(&answer), json!({"message": format!("반갑습니다, {email}님!")}));
    }
    for (file, first_name) in [("user.json", "Ada"), ("user-no-slash.json", "Augusta Ada")] {
        let answer = invoke("user", event(file, &email, access, refresh)).await;
        assert_eq!(answer["statusCode"], 200, "{file}: {answer}");
        assert_eq!(body(&answer)["email"], email.as_str(), "{file}");
        assert_eq!(body(&answer)["first_name"], first_name, "{file}");
        assert_eq!(
            header_values(&answer, "allow"),
            ["GET, PUT, PATCH, HEAD, OPTIONS"],
            "{file}"
        );
    }
    for file in ["token-verify.json", "token-verify-no-slash.json"] {
        let answer = invoke("token-verify", event(file, &email, access, refresh)).await;
        assert_eq!(
            (answer["statusCode"].clone(), body(&answer)),
            (json!(200), json!({})),
            "{file}"
        );
    }
    let refreshed = invoke("refresh", event("refresh-no-slash.json", &email, access, refresh)).await;
    assert_eq!(refreshed["statusCode"], 200, "{refreshed}");
    let rotated = body(&refreshed)["refresh"].as_str().expect("rotated").to_owned();
    let out = invoke("logout", event("logout.json", &email, access, &rotated)).await;
    assert_eq!(
        (out["statusCode"].clone(), body(&out)),
        (json!(200), json!({"detail": "Successfully logged out."}))
    );
    assert_eq!(
        header_values(&out, "set-cookie").len(),
        2,
        "both cookies deleted: {out}"
    );
}

#[tokio::test]
async fn rest_api_error_events_get_the_contract_answers_from_the_real_binaries() {
    for (function, file, status) in [
        ("mypage", "unknown-route.json", 404),
        ("mypage", "unknown-route-no-slash.json", 404),
        ("mypage", "mypage-no-token.json", 401),
        ("login", "login-wrong-method.json", 405),
        ("join", "join-malformed-json.json", 400),
        ("token-verify", "token-verify-garbage.json", 401),
        ("user", "user-wrong-method.json", 405),
        ("user", "user-invalid-fields.json", 401),
        ("sessions", "sessions-wrong-method.json", 405),
        ("sessions", "session-delete-unknown.json", 401),
        ("sessions-revoke-others", "sessions-revoke-others-no-token.json", 401),
        ("user-delete", "user-delete-wrong-password.json", 401),
    ] {
        let answer = invoke(function, event(file, &unique_email(), "", "")).await;
        assert_eq!(answer["statusCode"], status, "{file}: {answer}");
        assert_eq!(header_values(&answer, "content-type"), ["application/json"], "{file}");
    }
    // `make test` allows http://localhost:3000, the origin of the preflight event.
    let preflight = invoke("login", event("login-preflight.json", "", "", "")).await;
    assert_eq!(preflight["statusCode"], 200, "{preflight}");
    assert_eq!(
        header_values(&preflight, "access-control-allow-origin"),
        ["http://localhost:3000"]
    );
}

/// The session and deletion events through the real binaries: a REST event's `{id}` path
/// parameter reaches the sessions function, and a 204 goes back with no body.
#[tokio::test]
async fn rest_api_session_and_deletion_events_walk_an_account_to_its_end_through_the_real_binaries() {
    let session = new_user().await;
    let other = login(&session.email).await;
    let (email, access, refresh) = (&session.email, session.access.as_str(), session.refresh.as_str());

    let listed = invoke("sessions", event("sessions-no-slash.json", email, access, refresh)).await;
    assert_eq!(listed["statusCode"], 200, "{listed}");
    assert_eq!(body(&listed).as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(header_values(&listed, "allow"), ["GET, HEAD, OPTIONS"]);

    // session-delete.json ends the session of the token it carries (its id in path and pathParameters).
    let own = event("session-delete.json", email, &other.access, "")
        .replace("REPLACE_WITH_SESSION_ID", &session_id_of(&other.access));
    let ended = invoke("sessions", own).await;
    assert_eq!(ended["statusCode"], 204, "{ended}");
    assert!(ended["body"].as_str().unwrap_or_default().is_empty(), "{ended}");
    assert!(header_values(&ended, "content-type").is_empty(), "{ended}");
    mypage(&other.bearer()).await.expect_challenge(access_invalid());

    let revoked = invoke(
        "sessions-revoke-others",
        event("sessions-revoke-others.json", email, access, refresh),
    )
    .await;
    assert_eq!(
        (revoked["statusCode"].clone(), body(&revoked)),
        (json!(200), json!({"revoked": 0}))
    );

    let deleted = invoke(
        "user-delete",
        event("user-delete-no-slash.json", email, access, refresh),
    )
    .await;
    assert_eq!(deleted["statusCode"], 204, "{deleted}");
    assert_eq!(mypage(&session.bearer()).await.status, 401);
}

#[tokio::test]
async fn rest_api_events_of_the_published_keys_reach_the_real_binary() {
    let es256 = stack_keys().algorithm == shared::tokens::keys::JwtAlgorithm::Es256;
    for file in [
        "jwks.json",
        "jwks-with-slash.json",
        "openid-configuration.json",
        "openid-configuration-with-slash.json",
    ] {
        let answer = invoke("well-known", event(file, "", "", "")).await;
        if !es256 {
            assert_eq!(answer["statusCode"], 404, "{file}");
            assert_eq!(body(&answer), json!({"detail": "Not found."}), "{file}");
            continue;
        }
        assert_eq!(answer["statusCode"], 200, "{file}");
        assert_eq!(
            header_values(&answer, "cache-control"),
            ["public, max-age=3600"],
            "{file}"
        );
        let document = body(&answer);
        match file.starts_with("jwks") {
            true => assert_eq!(document["keys"][0]["kid"], json!(stack_keys().signing_kid), "{file}"),
            false => assert_eq!(document["issuer"], json!(issuer()), "{file}"),
        }
    }
}
