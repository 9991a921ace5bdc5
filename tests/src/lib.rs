//! Helpers for the end-to-end tests. `make test` starts DynamoDB (moto) and `cargo lambda watch`
//! on free ports and hands them over in the environment:
//! `E2E_API_URL` (the router's base URL), `JWT_SIGNING_KEY` (to forge expired tokens),
//! `TABLE_NAME` and `AWS_ENDPOINT_URL_DYNAMODB` (to act as an admin would, e.g. deactivate a user).

use std::sync::OnceLock;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const PASSWORD: &str = "Tutorial-Pw!7319";

/// The base URL of the running stack, e.g. `http://127.0.0.1:40123`.
pub fn api_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("E2E_API_URL")
            .expect("end-to-end tests need the local stack: run them with `make test`");
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "end-to-end tests only run against loopback"
        );
        url
    })
}

pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client")
    })
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The `Set-Cookie` line that sets `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|line| line.starts_with(&format!("{name}=")))
    }
}

/// Sends a request to `path` (e.g. `/account/login/`).
pub async fn send(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client().request(method, format!("{}{path}", api_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("the stack answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.expect("a body"),
    }
}

pub async fn post_json(path: &str, body: Value) -> Answer {
    send(
        "POST",
        path,
        &[("content-type", "application/json")],
        Some(body.to_string()),
    )
    .await
}

pub async fn post_json_with(path: &str, body: Value, headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send("POST", path, &all, Some(body.to_string())).await
}

/// A fresh, unique email for one test.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Tokens and user of a successful join or login.
#[derive(Debug, Clone)]
pub struct Session {
    pub email: String,
    pub access: String,
    pub refresh: String,
    pub user: Value,
}

impl Session {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access)
    }
}

fn session_of(email: &str, answer: &Answer) -> Session {
    let body = answer.json();
    Session {
        email: email.to_owned(),
        access: body["access"].as_str().expect("access").to_owned(),
        refresh: body["refresh"].as_str().expect("refresh").to_owned(),
        user: body["user"].clone(),
    }
}

/// Joins a new user with the standard password.
pub async fn join(email: &str) -> Session {
    let answer = post_json(
        "/account/join/",
        json!({"email": email, "password1": PASSWORD, "password2": PASSWORD}),
    )
    .await;
    assert_eq!(answer.status, 201, "join: {}", answer.text);
    session_of(email, &answer)
}

/// Logs a user in with the standard password.
pub async fn login(email: &str) -> Session {
    let answer = post_json(
        "/account/login/",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(answer.status, 200, "login: {}", answer.text);
    session_of(email, &answer)
}

pub async fn mypage(bearer: &str) -> Answer {
    send(
        "GET",
        "/account/mypage/",
        &[("authorization", bearer)],
        None,
    )
    .await
}
