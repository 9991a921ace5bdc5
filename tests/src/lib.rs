//! Helpers for the end-to-end tests. `make test` starts DynamoDB (moto) and `cargo lambda watch`
//! on free ports and hands them over in the environment:
//! `E2E_API_URL` (the router's base URL), `JWT_ALGORITHM` and `JWT_SIGNING_KEY_FILE` (to forge
//! expired tokens with the stack's key),
//! `TABLE_NAME` and `AWS_ENDPOINT_URL_DYNAMODB` (to act as an admin would, e.g. deactivate a user).
//!
//! `make smoke API_URL=https://…` runs the black-box part (every test outside a `white_box`
//! module) against a deployed stack: only `E2E_API_URL` is set, and a white-box helper called by
//! mistake fails the test instead of reaching for AWS credentials.
//!
//! Every answer read through [`send`] is checked against the conventions of contract §1 that
//! hold for every response (JSON, security headers, never a redirect), so each test checks
//! them on whatever it sends.

pub mod attacks;

use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const PASSWORD: &str = "Tutorial-Pw!7319";
/// A strong password other than [`PASSWORD`].
pub const NEW_PASSWORD: &str = "Another-Pw!5521";

pub const JOIN: &str = "/account/join/";
pub const LOGIN: &str = "/account/login/";
pub const LOGOUT: &str = "/account/logout/";
pub const REFRESH: &str = "/account/token/refresh/";
pub const VERIFY: &str = "/account/token/verify/";
pub const PASSWORD_CHANGE: &str = "/account/password/change/";
pub const MYPAGE: &str = "/account/mypage/";
pub const USER: &str = "/account/user/";
pub const USER_DELETE: &str = "/account/user/delete/";
pub const SESSIONS: &str = "/account/sessions/";
pub const REVOKE_OTHERS: &str = "/account/sessions/revoke-others/";
pub const EVENTS: &str = "/account/events/";
pub const ADMIN_USERS: &str = "/account/admin/users/";
pub const JWKS: &str = "/account/.well-known/jwks.json";
pub const OPENID_CONFIGURATION: &str = "/account/.well-known/openid-configuration";
pub const PASSWORD_RESET: &str = "/account/password/reset/";
pub const PASSWORD_RESET_CONFIRM: &str = "/account/password/reset/confirm/";
pub const VERIFY_EMAIL: &str = "/account/join/verify-email/";
pub const RESEND_EMAIL: &str = "/account/join/resend-email/";
pub const SOCIAL_ACCOUNTS: &str = "/account/socialaccounts/";

/// A route's path without its trailing slash.
fn bare(path: &str) -> &str {
    path.trim_end_matches('/')
}

/// One session's path (`DELETE` ends it).
pub fn session_path(id: &str) -> String {
    format!("{SESSIONS}{id}/")
}

/// The routes with a fixed path (with the trailing slash; one session's route, by id, is
/// `session_path`), the method each serves, and its `Allow` header.
pub const ROUTES: [(&str, &str, &str); 15] = [
    (JOIN, "POST", "POST, OPTIONS"),
    (LOGIN, "POST", "POST, OPTIONS"),
    (LOGOUT, "POST", "POST, OPTIONS"),
    (REFRESH, "POST", "POST, OPTIONS"),
    (VERIFY, "POST", "POST, OPTIONS"),
    (PASSWORD_CHANGE, "POST", "POST, OPTIONS"),
    (MYPAGE, "GET", "GET, HEAD, OPTIONS"),
    (USER, "GET", "GET, PUT, PATCH, HEAD, OPTIONS"),
    (USER_DELETE, "POST", "POST, OPTIONS"),
    (SESSIONS, "GET", "GET, HEAD, OPTIONS"),
    (REVOKE_OTHERS, "POST", "POST, OPTIONS"),
    (PASSWORD_RESET, "POST", "POST, OPTIONS"),
    (PASSWORD_RESET_CONFIRM, "POST", "POST, OPTIONS"),
    (VERIFY_EMAIL, "POST", "POST, OPTIONS"),
    (RESEND_EMAIL, "POST", "POST, OPTIONS"),
];

/// The POST routes.
pub const POST_ROUTES: [&str; 12] = [
    JOIN,
    LOGIN,
    LOGOUT,
    REFRESH,
    VERIFY,
    PASSWORD_CHANGE,
    USER_DELETE,
    REVOKE_OTHERS,
    PASSWORD_RESET,
    PASSWORD_RESET_CONFIRM,
    VERIFY_EMAIL,
    RESEND_EMAIL,
];

/// The POST routes that authenticate the bearer before they read the body.
pub const BEARER_POST_ROUTES: [&str; 3] = [PASSWORD_CHANGE, USER_DELETE, REVOKE_OTHERS];

/// The base URL of the stack under test, e.g. `http://127.0.0.1:40123` (the local stack) or
/// `https://abc123.execute-api.eu-west-1.amazonaws.com/api` (a deployed one, `make smoke`).
pub fn api_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("E2E_API_URL")
            .expect("end-to-end tests need a running stack: run them with `make test` or `make smoke`");
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("https://"),
            "end-to-end tests run against the local stack (http://127.0.0.1:PORT) or over HTTPS: {url}"
        );
        url.trim_end_matches('/').to_owned()
    })
}

/// A client for one request. Each `#[tokio::test]` has its own runtime, and pooled connections
/// die with the runtime that opened them, so clients are not shared between tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config().clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The TLS settings every client shares: the system's roots, loaded once. A client of its own
/// would load and parse them again (about 25 ms of CPU in a debug build, for every request).
fn tls_config() -> &'static rustls::ClientConfig {
    use rustls_platform_verifier::ConfigVerifierExt;
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        // reqwest's TLS is built without a crypto provider of its own: use ring, as the functions do.
        let _ = rustls::crypto::ring::default_provider().install_default();
        rustls::ClientConfig::with_platform_verifier().expect("the platform's TLS roots")
    })
}

/// A white-box setting of the running stack (its key, its table); `make smoke` has none.
fn white_box_setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs white-box access and belongs in a `white_box` module")
    })
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| {
            panic!(
                "{} {} ({}): not JSON: {}",
                self.method, self.path, self.status, self.text
            )
        })
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

    /// The parsed `Set-Cookie` of `name`; fails the test when there is none.
    pub fn parsed_cookie(&self, name: &str) -> SetCookie {
        let line = self.cookie(name).unwrap_or_else(|| {
            panic!(
                "{} {} sets no {name} cookie: {:?}",
                self.method,
                self.path,
                self.set_cookies()
            )
        });
        SetCookie::parse(&line)
    }

    /// Asserts the status and the whole JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16, body: Value) {
        assert_eq!(
            (self.status, self.json()),
            (status, body),
            "{} {}: {}",
            self.method,
            self.path,
            self.text
        );
    }

    /// Asserts a 401 with this whole body and the bearer challenge.
    #[track_caller]
    pub fn expect_challenge(&self, body: Value) {
        self.expect(401, body);
        assert_eq!(
            self.header("www-authenticate"),
            Some("Bearer realm=\"api\""),
            "{} {}: the 401 must carry the bearer challenge",
            self.method,
            self.path
        );
    }

    /// Asserts a 401 with this whole body and no `WWW-Authenticate` (logout's errors).
    #[track_caller]
    pub fn expect_401_without_challenge(&self, body: Value) {
        self.expect(401, body);
        assert_eq!(
            self.header("www-authenticate"),
            None,
            "{} {}: logout's 401s carry no challenge",
            self.method,
            self.path
        );
    }
}

/// One `Set-Cookie` line: name, value and attributes (as sent, trimmed).
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    pub attributes: Vec<String>,
}

impl SetCookie {
    pub fn parse(line: &str) -> SetCookie {
        let mut parts = line.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .unwrap_or_else(|| panic!("not a cookie: {line}"));
        SetCookie {
            name: name.to_owned(),
            value: value.trim_matches('"').to_owned(),
            attributes: parts.map(str::to_owned).collect(),
        }
    }

    /// The value of attribute `name` (case-insensitive), `Some("")` for a flag.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find_map(|attribute| {
            let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
            key.trim().eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }

    /// Asserts the hardened attributes of contract §4 (login) and this `Max-Age`.
    #[track_caller]
    pub fn assert_hardened(&self, max_age: &str) {
        assert_eq!(self.attribute("HttpOnly"), Some(""), "{self:?}");
        assert_eq!(self.attribute("Secure"), Some(""), "{self:?}");
        assert_eq!(self.attribute("SameSite"), Some("Lax"), "{self:?}");
        assert_eq!(self.attribute("Path"), Some("/"), "{self:?}");
        assert_eq!(self.attribute("Max-Age"), Some(max_age), "{self:?}");
        assert!(
            self.attribute("Expires").is_some_and(|at| !at.is_empty()),
            "{self:?} lacks Expires"
        );
    }

    /// Asserts a deletion: empty value, `Max-Age=0`, the attributes it was set with.
    #[track_caller]
    pub fn assert_deleted(&self) {
        assert_eq!(self.value, "", "{self:?}");
        self.assert_hardened("0");
    }
}

/// Asserts the conventions every answer of the API follows (contract §1): a JSON object (the
/// sessions list and the social accounts list: arrays), or a 204 with no body and so no `Content-Type`.
#[track_caller]
pub fn assert_conventions(answer: &Answer) {
    let context = format!("{} {} ({})", answer.method, answer.path, answer.status);
    // The published keys are public and cacheable; every other answer is personal.
    let published = answer.status == 200
        && (answer.method == "GET" || answer.method == "HEAD")
        && answer.path.contains("/.well-known/");
    let cache_control = if published { "public, max-age=3600" } else { "no-store" };
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", cache_control),
    ] {
        assert_eq!(answer.header(name), Some(value), "{context}: header {name}");
    }
    assert!(
        !(300..400).contains(&answer.status),
        "{context}: the API never redirects"
    );
    if answer.status == 204 {
        assert_eq!(answer.text, "", "{context}: a 204 has no body");
        assert_eq!(
            answer.header("content-type"),
            None,
            "{context}: no body, no Content-Type"
        );
        return;
    }
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{context}: header content-type"
    );
    if answer.method != "HEAD" {
        let body = answer.json();
        let list = answer.method == "GET"
            && answer.status == 200
            && [bare(SESSIONS), bare(SOCIAL_ACCOUNTS)].contains(&answer.path.trim_end_matches('/'));
        assert!(
            body.is_object() || (list && body.is_array()),
            "{context}: {}",
            answer.text
        );
    }
}

/// Sends a request to `path` (e.g. `/account/login/`) and checks the §1 conventions.
pub async fn send(method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Answer {
    let answer = send_unchecked(method, path, headers, body).await;
    assert_conventions(&answer);
    answer
}

/// Sends a request without checking the answer.
pub async fn send_unchecked(method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Answer {
    let mut attempts = 0;
    loop {
        let answer = send_once(method, path, headers, body.clone()).await;
        attempts += 1;
        // A deployed stage throttles the hashing routes (template: HashingRouteRateLimit); its
        // 429 comes from API Gateway, without the `Allow` every function answer carries. That is
        // the gateway pacing a test run, not an answer under test: wait as told and send again.
        // The local stack has no gateway, so this never happens there.
        if answer.status == 429 && answer.header("allow").is_none() && attempts < GATEWAY_THROTTLE_RETRIES {
            let seconds = answer
                .header("retry-after")
                .and_then(|value| value.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            continue;
        }
        return answer;
    }
}

/// How often a request throttled by the deployed gateway is sent before its 429 stands.
const GATEWAY_THROTTLE_RETRIES: u32 = 10;

async fn send_once(method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Answer {
    let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client().request(verb, format!("{}{path}", api_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("the stack answers");
    Answer {
        method: method.to_owned(),
        path: path.to_owned(),
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.expect("a body"),
    }
}

pub async fn get(path: &str, headers: &[(&str, &str)]) -> Answer {
    send("GET", path, headers, None).await
}

pub async fn post_json(path: &str, body: Value) -> Answer {
    post_json_with(path, body, &[]).await
}

pub async fn post_json_with(path: &str, body: Value, headers: &[(&str, &str)]) -> Answer {
    post_raw(path, "application/json", &body.to_string(), headers).await
}

/// POSTs `body` as sent, with this `Content-Type`.
pub async fn post_raw(path: &str, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("content-type", content_type)];
    all.extend_from_slice(headers);
    send("POST", path, &all, Some(body.to_owned())).await
}

/// POSTs an HTML form (`a=1&b=2`, already encoded).
pub async fn post_form(path: &str, form: &str, headers: &[(&str, &str)]) -> Answer {
    post_raw(path, "application/x-www-form-urlencoded", form, headers).await
}

/// Percent-encodes a form value.
pub fn form_value(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A fresh, unique email for one test.
pub fn unique_email() -> String {
    // `make smoke` names its throwaway accounts after the run (`smoke-<time>-…`), so they can
    // be found in a deployed table; example.com is reserved (RFC 2606): no mail ever reaches it.
    let prefix = std::env::var("E2E_EMAIL_PREFIX").unwrap_or_else(|_| "user".to_owned());
    format!("{prefix}-{}@example.com", random_hex())
}

/// 32 lowercase hex digits, as the service's ids.
pub fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
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
        bearer(&self.access)
    }

    /// The user's `pk`.
    pub fn pk(&self) -> u64 {
        self.user["pk"].as_u64().expect("pk is an integer")
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
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

/// The join body with the standard password.
pub fn signup(email: &str) -> Value {
    json!({"email": email, "password1": PASSWORD, "password2": PASSWORD})
}

/// `signup(email)` with the fields of `more` added or replaced.
pub fn signup_with(email: &str, more: Value) -> Value {
    let mut body = signup(email);
    for (key, value) in more.as_object().expect("an object") {
        body[key] = value.clone();
    }
    body
}

/// Joins a new user with the standard password.
pub async fn join(email: &str) -> Session {
    let answer = post_json(JOIN, signup(email)).await;
    assert_eq!(answer.status, 201, "join: {}", answer.text);
    session_of(email, &answer)
}

/// A new user, joined under a unique email.
pub async fn new_user() -> Session {
    join(&unique_email()).await
}

/// Logs a user in with the standard password.
pub async fn login(email: &str) -> Session {
    login_with(email, PASSWORD).await
}

pub async fn login_with(email: &str, password: &str) -> Session {
    let answer = post_json(LOGIN, json!({"email": email, "password": password})).await;
    assert_eq!(answer.status, 200, "login: {}", answer.text);
    session_of(email, &answer)
}

pub async fn mypage(bearer: &str) -> Answer {
    get(MYPAGE, &[("authorization", bearer)]).await
}

/// Asserts that the access token still opens mypage.
#[track_caller]
pub fn assert_greeted(answer: &Answer, email: &str) {
    answer.expect(200, json!({"message": format!("반갑습니다, {email}님!")}));
}

pub async fn refresh(token: &str) -> Answer {
    post_json(REFRESH, json!({"refresh": token})).await
}

pub async fn verify(token: &str) -> Answer {
    post_json(VERIFY, json!({"token": token})).await
}

/// GET /account/user/ with this `Authorization` value.
pub async fn user_details(bearer: &str) -> Answer {
    get(USER, &[("authorization", bearer)]).await
}

/// A PUT or PATCH of /account/user/ with this `Authorization` value and JSON body.
pub async fn update_user(method: &str, bearer: &str, body: Value) -> Answer {
    let headers = [("authorization", bearer), ("content-type", "application/json")];
    send(method, USER, &headers, Some(body.to_string())).await
}

/// GET /account/sessions/ with this `Authorization` value.
pub async fn list_sessions(bearer: &str) -> Answer {
    get(SESSIONS, &[("authorization", bearer)]).await
}

/// The ids of a sessions list answer, in its order (newest first); fails unless a 200.
#[track_caller]
pub fn session_ids(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "sessions: {}", answer.text);
    answer
        .json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|session| session["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// DELETE /account/sessions/{id}/ with this `Authorization` value.
pub async fn end_session(bearer: &str, id: &str) -> Answer {
    send("DELETE", &session_path(id), &[("authorization", bearer)], None).await
}

/// POST /account/sessions/revoke-others/ with this `Authorization` value.
pub async fn revoke_others(bearer: &str) -> Answer {
    post_json_with(REVOKE_OTHERS, json!({}), &[("authorization", bearer)]).await
}

/// POST /account/user/delete/ with this `Authorization` value and password.
pub async fn delete_account(bearer: &str, password: &str) -> Answer {
    post_json_with(USER_DELETE, json!({"password": password}), &[("authorization", bearer)]).await
}

/// The session id (`sid` claim) a token of ours carries, read without checking the token.
pub fn session_id_of(token: &str) -> String {
    claims(token)["sid"].as_str().expect("a sid claim").to_owned()
}

pub async fn logout(token: &str) -> Answer {
    post_json(LOGOUT, json!({"refresh": token})).await
}

pub async fn change_password(bearer: &str, body: Value) -> Answer {
    post_json_with(PASSWORD_CHANGE, body, &[("authorization", bearer)]).await
}

/// The body that sets [`NEW_PASSWORD`] for a user of the standard password (the current password
/// is required by default: `PASSWORD_CHANGE_REQUIRES_OLD_PASSWORD`).
pub fn new_password_body() -> Value {
    password_change_body(PASSWORD, NEW_PASSWORD)
}

/// The body that changes the password `old` to `new`.
pub fn password_change_body(old: &str, new: &str) -> Value {
    json!({"old_password": old, "new_password1": new, "new_password2": new})
}

/// The new tokens of a successful refresh.
/// The access token and the rotated refresh token of a refresh by cookie: the new refresh token
/// is in the cookie alone, never in the body (scripts read bodies, not HttpOnly cookies).
pub fn rotated_by_cookie(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, 200, "refresh: {}", answer.text);
    let body = answer.json();
    assert!(body.get("refresh").is_none(), "a refresh token in the body: {body}");
    (
        body["access"].as_str().expect("access").to_owned(),
        answer.parsed_cookie("my-refresh-token").value,
    )
}

pub fn rotated(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, 200, "refresh: {}", answer.text);
    let body = answer.json();
    (
        body["access"].as_str().expect("access").to_owned(),
        body["refresh"].as_str().expect("rotated refresh").to_owned(),
    )
}

// --- The 401 bodies of contract §2 and §4 ------------------------------------------------------

pub fn no_credentials() -> Value {
    json!({"detail": "Authentication credentials were not provided."})
}

pub fn bad_authorization_header() -> Value {
    json!({
        "detail": "Authorization header must contain two space-delimited values",
        "code": "bad_authorization_header",
    })
}

/// simplejwt's answer for an access token refused with `message`.
pub fn access_refused(message: &str) -> Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
}

pub fn access_invalid() -> Value {
    access_refused("Token is invalid")
}

pub fn access_expired() -> Value {
    access_refused("Token is expired")
}

pub fn access_wrong_type() -> Value {
    access_refused("Token has wrong type")
}

pub fn user_not_found() -> Value {
    json!({"detail": "User not found", "code": "user_not_found"})
}

pub fn user_inactive() -> Value {
    json!({"detail": "User is inactive", "code": "user_inactive"})
}

/// token/refresh's 401 body.
pub fn refresh_refused(detail: &str) -> Value {
    json!({"detail": detail, "code": "token_not_valid"})
}

pub fn blacklisted() -> Value {
    refresh_refused("Token is blacklisted")
}

/// token/verify's 401 body (as token/refresh's).
pub fn verify_refused(detail: &str) -> Value {
    refresh_refused(detail)
}

/// logout's 401 body.
pub fn logout_refused(detail: &str) -> Value {
    json!({"detail": detail})
}

// --- Tokens -------------------------------------------------------------------------------------

/// The issuer of the stack's tokens: its base URL followed by `/account` (`JWT_ISSUER`, as
/// `make test` and the template set it).
pub fn issuer() -> String {
    format!("{}/account", api_url())
}

/// The decoded payload of a JWT.
pub fn claims(token: &str) -> Value {
    decode_part(token, 1)
}

/// The decoded header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    decode_part(token, 0)
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT has three parts");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The running stack's keys, read as its functions read them (`JWT_ALGORITHM`, and
/// `JWT_SIGNING_KEY` or the file `JWT_SIGNING_KEY_FILE` names, which `make rotate-key` rewrites:
/// read at each call, so the tests sign with the key in force).
pub fn stack_keys() -> shared::tokens::keys::KeyRing {
    let algorithm = std::env::var("JWT_ALGORITHM")
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(shared::tokens::keys::JwtAlgorithm::Hs256);
    let current = match std::env::var("JWT_SIGNING_KEY_FILE") {
        Ok(path) => std::fs::read_to_string(path)
            .expect("the stack's key file")
            .trim()
            .to_owned(),
        Err(_) => white_box_setting("JWT_SIGNING_KEY"),
    };
    let material = shared::tokens::keys::KeyMaterial {
        current: current.into(),
        previous: None,
    };
    shared::tokens::keys::KeyRing::build(algorithm, &material).expect("the stack's key")
}

/// What an attacker could use as an HMAC secret against the stack: the HS256 secret itself
/// (a leaked-key stand-in) or, under ES256, the public key's bytes as the JWKS publishes them.
pub fn our_hmac_secret() -> Vec<u8> {
    let keys = stack_keys();
    match keys.signing.as_ref().and_then(|key| key.public_point()) {
        Some(point) => point.to_vec(),
        None => white_box_hmac_secret(),
    }
}

fn white_box_hmac_secret() -> Vec<u8> {
    match std::env::var("JWT_SIGNING_KEY_FILE") {
        Ok(path) => std::fs::read_to_string(path)
            .expect("the stack's key file")
            .trim()
            .as_bytes()
            .to_vec(),
        Err(_) => white_box_setting("JWT_SIGNING_KEY").into_bytes(),
    }
}

/// `header.payload` signed with the stack's current key, whatever the header says.
pub fn signed_by_stack(header: &Value, payload: &Value) -> String {
    let message = format!("{}.{}", encode_part(header), encode_part(payload));
    sign_message_by_stack(&message)
}

/// `message` (`header.payload`, already encoded) with the stack's signature appended.
pub fn sign_message_by_stack(message: &str) -> String {
    let signature = stack_keys()
        .signing
        .as_ref()
        .expect("the stack's signing key")
        .sign(message.as_bytes())
        .expect("signing");
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The header the stack puts on its tokens: its algorithm and current key id.
pub fn stack_header() -> Value {
    let keys = stack_keys();
    json!({"alg": keys.algorithm.name(), "typ": "JWT", "kid": keys.signing_kid})
}

/// `claims` signed as the stack signs its tokens (a forgery only the key holder can make).
pub fn sign_as_stack(claims: &Value) -> String {
    signed_by_stack(&stack_header(), claims)
}

/// A key the stack does not use.
pub const FOREIGN_KEY: &[u8] = b"another-deployment-key-0123456789abcdef";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Signs `claims` with `key` under `algorithm`.
pub fn sign(claims: &Value, key: &[u8], algorithm: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(key)).expect("signing")
}

/// The claims of `token` with `changes` applied and a fresh `jti`.
pub fn claims_with(token: &str, changes: Value) -> Value {
    let mut claims = claims(token);
    claims["jti"] = json!(random_hex());
    for (key, value) in changes.as_object().expect("an object") {
        claims[key] = value.clone();
    }
    claims
}

/// `token` re-signed with the stack's key after applying `changes` (fresh `jti`).
pub fn forge(token: &str, changes: Value) -> String {
    sign_as_stack(&claims_with(token, changes))
}

/// A token of the same kind, user and session as `token`, properly signed, that expired
/// a minute ago.
pub fn expired(token: &str) -> String {
    let now = now();
    forge(token, json!({"iat": now - 3660, "exp": now - 60}))
}

/// The same claims (fresh `jti`), signed with a key the stack does not know.
pub fn foreign_signed(token: &str) -> String {
    sign(&claims_with(token, json!({})), FOREIGN_KEY, Algorithm::HS256)
}

/// The same claims (fresh `jti`), signed under HS512 with what an attacker would try as our
/// key (the HS256 secret, or the ES256 public key's bytes).
pub fn other_algorithm(token: &str) -> String {
    sign(&claims_with(token, json!({})), &our_hmac_secret(), Algorithm::HS512)
}

/// The token's payload under `{"alg":"none"}`, unsigned.
pub fn unsigned(token: &str) -> String {
    let header = encode_part(&json!({"alg": "none", "typ": "JWT"}));
    let payload = token.split('.').nth(1).expect("payload");
    format!("{header}.{payload}.")
}

/// The token's header and payload with another token's signature.
pub fn with_signature_of(token: &str, other: &str) -> String {
    let (signed, _) = token.rsplit_once('.').expect("a JWT");
    let (_, signature) = other.rsplit_once('.').expect("a JWT");
    format!("{signed}.{signature}")
}

/// The token with its payload changed (`changes` applied) and its original signature.
pub fn tampered(token: &str, changes: Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("header");
    let mut claims = claims(token);
    for (key, value) in changes.as_object().expect("an object") {
        claims[key] = value.clone();
    }
    let signature = parts.nth(1).expect("signature");
    format!("{header}.{}.{signature}", encode_part(&claims))
}

// --- The store, as an admin would touch it ------------------------------------------------------

/// A fresh table on the local DynamoDB server `make test` started, named `<prefix>-<random>`.
/// Refuses to run against anything but a local server.
pub async fn fresh_local_table(prefix: &str) -> String {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("these tests need the local DynamoDB: `make test`");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "these tests only run against a local server"
    );
    let table = format!("{prefix}-{}", random_hex());
    shared::store::DynamoStore::connect(table.clone())
        .await
        .create_table_if_missing()
        .await
        .expect("table created");
    table
}

/// A DynamoDB client for the stack's store (`AWS_ENDPOINT_URL_DYNAMODB`, dummy credentials).
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    // Never the AWS credential chain: only the local server `make test` started.
    let endpoint = white_box_setting("AWS_ENDPOINT_URL_DYNAMODB");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "{endpoint}: not the local server"
    );
    aws_sdk_dynamodb::Client::new(&shared::aws::sdk_config().await)
}

fn table_name() -> String {
    white_box_setting("TABLE_NAME")
}

fn user_key(pk: u64) -> [(String, AttributeValue); 2] {
    [
        ("PK".to_owned(), AttributeValue::S(format!("USER#{pk}"))),
        ("SK".to_owned(), AttributeValue::S("USER".to_owned())),
    ]
}

/// Sets the user's `is_active` straight in the table, as an admin tool might.
pub async fn set_active(pk: u64, active: bool) {
    set_user_flag(pk, "is_active", active).await;
}

/// Sets the user's `is_staff` straight in the table, as a superuser might.
pub async fn set_staff(pk: u64, staff: bool) {
    set_user_flag(pk, "is_staff", staff).await;
}

async fn set_user_flag(pk: u64, name: &str, value: bool) {
    let [pk_attr, sk_attr] = user_key(pk);
    dynamodb()
        .await
        .update_item()
        .table_name(table_name())
        .key(pk_attr.0, pk_attr.1)
        .key(sk_attr.0, sk_attr.1)
        .update_expression("SET #flag = :value")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#flag", name)
        .expression_attribute_values(":value", AttributeValue::Bool(value))
        .send()
        .await
        .unwrap_or_else(|error| panic!("setting {name} of user {pk}: {error}"));
}

/// One attribute of the user's item as stored (`None`: no such item or attribute).
pub async fn user_attribute(pk: u64, name: &str) -> Option<AttributeValue> {
    let [pk_attr, sk_attr] = user_key(pk);
    dynamodb()
        .await
        .get_item()
        .table_name(table_name())
        .key(pk_attr.0, pk_attr.1)
        .key(sk_attr.0, sk_attr.1)
        .consistent_read(true)
        .send()
        .await
        .expect("reading the user")
        .item
        .and_then(|mut item| item.remove(name))
}

/// Moves the last rotation of `token`'s session, and so its last use, `seconds` into the past,
/// as if that much time had gone by since (the reuse interval's clock), without waiting.
pub async fn age_rotation(token: &str, seconds: i64) {
    let claims = claims(token);
    let (user_id, session_id) = (
        claims["user_id"].as_str().expect("user_id"),
        claims["sid"].as_str().expect("sid"),
    );
    dynamodb()
        .await
        .update_item()
        .table_name(table_name())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S(format!("SESSION#{session_id}")))
        .update_expression(
            "SET refresh_issued_at = refresh_issued_at - :seconds, last_used_at = last_used_at - :seconds",
        )
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":seconds", AttributeValue::N(seconds.to_string()))
        .send()
        .await
        .expect("ageing the session's rotation");
}

/// The sort keys of every item in the user's partition (`USER`, `SESSION#<id>`), read
/// consistently.
pub async fn partition_items(pk: u64) -> Vec<String> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb()
            .await
            .query()
            .table_name(table_name())
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{pk}")))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("querying the user's partition");
        keys.extend(
            page.items()
                .iter()
                .filter_map(|item| item.get("SK")?.as_s().ok().cloned()),
        );
        match page.last_evaluated_key {
            Some(last) if !last.is_empty() => start = Some(last),
            _ => return keys,
        }
    }
}

/// Deletes the user's item, as an admin would.
pub async fn delete_user(pk: u64) {
    let [pk_attr, sk_attr] = user_key(pk);
    dynamodb()
        .await
        .delete_item()
        .table_name(table_name())
        .key(pk_attr.0, pk_attr.1)
        .key(sk_attr.0, sk_attr.1)
        .condition_expression("attribute_exists(PK)")
        .send()
        .await
        .expect("deleting the user");
}

// --- The 401s of the protected routes, shared by mypage, password/change and user -------------

/// A route that requires `Authorization: Bearer <access>`.
#[derive(Debug, Clone, Copy)]
pub enum Protected {
    MyPage,
    PasswordChange,
    /// GET /account/user/.
    UserRead,
    /// PATCH /account/user/ (with a valid body, so only authentication can refuse it).
    UserUpdate,
    /// GET /account/sessions/.
    SessionList,
    /// DELETE /account/sessions/{id}/ of some id.
    SessionEnd,
    /// POST /account/sessions/revoke-others/.
    RevokeOthers,
    /// POST /account/user/delete/ with the right password for every test user.
    UserDelete,
    /// GET /account/events/.
    Events,
    /// GET /account/admin/users/ (a non-staff user's valid token gets 403, not one of these).
    AdminUsers,
}

impl Protected {
    /// Calls the route with this `Authorization` (and cookies); password/change and the user
    /// update get a valid body, so only authentication can refuse them.
    pub async fn call(self, authorization: Option<&str>, cookie: Option<&str>) -> Answer {
        let mut headers = Vec::new();
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        if let Some(value) = cookie {
            headers.push(("cookie", value));
        }
        match self {
            Protected::MyPage => get(MYPAGE, &headers).await,
            Protected::PasswordChange => post_json_with(PASSWORD_CHANGE, new_password_body(), &headers).await,
            Protected::UserRead => get(USER, &headers).await,
            Protected::UserUpdate => {
                headers.push(("content-type", "application/json"));
                send(
                    "PATCH",
                    USER,
                    &headers,
                    Some(json!({"first_name": "Mallory"}).to_string()),
                )
                .await
            }
            Protected::SessionList => get(SESSIONS, &headers).await,
            Protected::SessionEnd => send("DELETE", &session_path(&random_hex()), &headers, None).await,
            Protected::RevokeOthers => post_json_with(REVOKE_OTHERS, json!({}), &headers).await,
            Protected::UserDelete => post_json_with(USER_DELETE, json!({"password": PASSWORD}), &headers).await,
            Protected::Events => get(EVENTS, &headers).await,
            Protected::AdminUsers => get(ADMIN_USERS, &headers).await,
        }
    }

    pub async fn with_bearer(self, token: &str) -> Answer {
        self.call(Some(&bearer(token)), None).await
    }

    /// Checks the answer to a sound token whose user was deactivated or deleted: the 401 of
    /// every protected route, but DRF's 403 on the admin routes, where staff is what the store
    /// says now.
    #[track_caller]
    pub fn expect_user_gone(self, answer: &Answer) {
        self.expect_refused_user(answer, user_not_found());
    }

    /// The answer to a deactivated user's token: simplejwt's `user_inactive` 401, DRF's 403 on
    /// the admin routes.
    #[track_caller]
    pub fn expect_user_inactive(self, answer: &Answer) {
        self.expect_refused_user(answer, user_inactive());
    }

    #[track_caller]
    fn expect_refused_user(self, answer: &Answer, challenge: Value) {
        match self {
            Protected::AdminUsers => {
                assert_eq!(answer.status, 403, "{}", answer.text);
                assert_eq!(
                    answer.json(),
                    json!({"detail": "You do not have permission to perform this action."})
                );
            }
            _ => answer.expect_challenge(challenge),
        }
    }
}

/// Generates one test per row (and variant) of the §2 table of 401s for a protected route.
#[macro_export]
macro_rules! protected_route_401s {
    ($route:expr) => {
        mod unauthorized {
            use $crate::*;
            use serde_json::json;

            const ROUTE: Protected = $route;

            #[tokio::test]
            async fn no_authorization_header() {
                ROUTE.call(None, None).await.expect_challenge(no_credentials());
            }

            #[tokio::test]
            async fn another_scheme() {
                let session = new_user().await;
                let token_scheme = format!("Token {}", session.access);
                for value in ["Basic dXNlcjpwYXNzd29yZA==", token_scheme.as_str()] {
                    ROUTE
                        .call(Some(value), None)
                        .await
                        .expect_challenge(no_credentials());
                }
            }

            #[tokio::test]
            async fn the_access_cookie_alone_is_no_credentials() {
                let session = new_user().await;
                let cookie = format!("my-app-auth={}", session.access);
                ROUTE
                    .call(None, Some(&cookie))
                    .await
                    .expect_challenge(no_credentials());
            }

            #[tokio::test]
            async fn bearer_without_a_token() {
                ROUTE
                    .call(Some("Bearer"), None)
                    .await
                    .expect_challenge(bad_authorization_header());
            }

            #[tokio::test]
            async fn bearer_with_two_values() {
                let session = new_user().await;
                let two = format!("Bearer {} {}", session.access, session.access);
                for value in ["Bearer abc def", two.as_str()] {
                    ROUTE
                        .call(Some(value), None)
                        .await
                        .expect_challenge(bad_authorization_header());
                }
            }

            #[tokio::test]
            async fn garbage() {
                for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"] {
                    ROUTE
                        .with_bearer(token)
                        .await
                        .expect_challenge(access_invalid());
                }
            }

            #[tokio::test]
            async fn bad_signature() {
                let session = new_user().await;
                let other = new_user().await;
                let forged = with_signature_of(&session.access, &other.access);
                ROUTE
                    .with_bearer(&forged)
                    .await
                    .expect_challenge(access_invalid());
            }

            #[tokio::test]
            async fn tampered_payload() {
                let session = new_user().await;
                let other = new_user().await;
                let forged = tampered(
                    &session.access,
                    json!({"user_id": other.pk().to_string()}),
                );
                ROUTE
                    .with_bearer(&forged)
                    .await
                    .expect_challenge(access_invalid());
            }

            #[tokio::test]
            async fn wrong_key() {
                let session = new_user().await;
                ROUTE
                    .with_bearer(&foreign_signed(&session.access))
                    .await
                    .expect_challenge(access_invalid());
            }

            #[tokio::test]
            async fn alg_none() {
                let session = new_user().await;
                let unsigned = unsigned(&session.access);
                let kept_signature = with_signature_of(&unsigned, &session.access);
                for token in [unsigned.as_str(), unsigned.trim_end_matches('.'), kept_signature.as_str()] {
                    ROUTE
                        .with_bearer(token)
                        .await
                        .expect_challenge(access_invalid());
                }
            }

            #[tokio::test]
            async fn revoked_by_logout() {
                let session = new_user().await;
                logout(&session.refresh).await.expect(200, json!({"detail": "Successfully logged out."}));
                ROUTE
                    .with_bearer(&session.access)
                    .await
                    .expect_challenge(access_invalid());
            }

            #[tokio::test]
            async fn expired_under_a_wrong_key_is_invalid() {
                let session = new_user().await;
                let now = now();
                let claims = claims_with(&session.access, json!({"iat": now - 3660, "exp": now - 60}));
                let forged = sign(&claims, FOREIGN_KEY, jsonwebtoken::Algorithm::HS256);
                ROUTE
                    .with_bearer(&forged)
                    .await
                    .expect_challenge(access_invalid());
            }

            #[tokio::test]
            async fn a_refresh_token_used_as_access() {
                let session = new_user().await;
                ROUTE
                    .with_bearer(&session.refresh)
                    .await
                    .expect_challenge(access_wrong_type());
            }


            /// These need the stack's signing key or its table: `make smoke` skips them.
            mod white_box {
                use super::*;

                #[tokio::test]
                async fn another_algorithm_with_the_right_key() {
                    let session = new_user().await;
                    ROUTE
                        .with_bearer(&other_algorithm(&session.access))
                        .await
                        .expect_challenge(access_invalid());
                }

                #[tokio::test]
                async fn a_session_that_never_existed() {
                    let session = new_user().await;
                    let forged = forge(&session.access, json!({"sid": random_hex()}));
                    ROUTE
                        .with_bearer(&forged)
                        .await
                        .expect_challenge(access_invalid());
                }

                #[tokio::test]
                async fn expired() {
                    let session = new_user().await;
                    ROUTE
                        .with_bearer(&$crate::expired(&session.access))
                        .await
                        .expect_challenge(access_expired());
                }

                #[tokio::test]
                async fn an_unknown_token_type_is_invalid() {
                    let session = new_user().await;
                    let forged = forge(&session.access, json!({"token_type": "sliding"}));
                    ROUTE
                        .with_bearer(&forged)
                        .await
                        .expect_challenge(access_invalid());
                }

                #[tokio::test]
                async fn inactive_user() {
                    let session = new_user().await;
                    set_active(session.pk(), false).await;
                    ROUTE.expect_user_inactive(&ROUTE.with_bearer(&session.access).await);
                }

                #[tokio::test]
                async fn deleted_user() {
                    let session = new_user().await;
                    delete_user(session.pk()).await;
                    ROUTE.expect_user_gone(&ROUTE.with_bearer(&session.access).await);
                }
            }
        }
    };
}

/// Which of the two links a message carries (the stack's link templates are the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailed {
    Reset,
    Confirmation,
}

impl Mailed {
    fn page(self) -> &'static str {
        match self {
            Mailed::Reset => "#/reset/",
            Mailed::Confirmation => "#/verify/",
        }
    }
}

/// The messages of one kind the stack's file mailer wrote to `to` (`E2E_OUTBOX_DIR`, white-box:
/// a deployed stack mails for real), oldest first, each whole as written. The stack verifies
/// addresses (optional): every join mails a confirmation too.
pub fn mails_to(to: &str, kind: Mailed) -> Vec<String> {
    all_mails_to(to)
        .into_iter()
        .filter(|message| link_of(message).is_some_and(|link| link.contains(kind.page())))
        .collect()
}

fn all_mails_to(to: &str) -> Vec<String> {
    let outbox = white_box_setting("E2E_OUTBOX_DIR");
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&outbox) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
            .collect(),
        Err(_) => Vec::new(), // nothing mailed yet
    };
    files.sort();
    let header = format!("\r\nTo: {to}\r\n");
    files
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter(|text| text.contains(&header))
        .collect()
}

/// The link of a message (see [`link_in`]); `None` for a message without one.
pub fn link_of(message: &str) -> Option<String> {
    text_of(message)
        .lines()
        .find(|line| line.starts_with("http"))
        .map(|line| line.trim().to_owned())
}

/// The link of a message: the first `http` line of its text part, decoded as its
/// `Content-Transfer-Encoding` says (quoted-printable for mostly ASCII text, base64 for Korean).
pub fn link_in(message: &str) -> String {
    link_of(message).expect("a link")
}

/// The text part of a message, decoded.
fn text_of(message: &str) -> String {
    let text_part = message
        .split("Content-Type: text/plain")
        .nth(1)
        .expect("a text/plain part");
    let (headers, body) = text_part.split_once("\r\n\r\n").expect("a part body after its headers");
    let body = body.split("\r\n--").next().unwrap_or(body);
    if headers.contains("Content-Transfer-Encoding: base64") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.replace("\r\n", ""))
            .expect("base64");
        String::from_utf8(bytes).expect("UTF-8")
    } else {
        quoted_printable_decode(body)
    }
}

/// RFC 2045 §6.7 decoding: soft line breaks removed, `=XX` turned back into its byte.
fn quoted_printable_decode(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = joined
            .get(i + 1..i + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if bytes[i] == b'='
            && let Some(byte) = escaped
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// The stack's store, for white-box checks (its table, the local server).
pub async fn store() -> shared::store::DynamoStore {
    dynamodb().await;
    shared::store::DynamoStore::connect(table_name()).await
}
