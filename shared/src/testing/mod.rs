//! Test support for handler tests (feature `testing`): real API Gateway REST API events parsed by
//! `lambda_http`, and an application over the in-memory store.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::app::App;
use crate::config::Config;
use crate::store::MemoryStore;

pub const TEST_SIGNING_KEY: &str = "handler-test-signing-key-0123456789abcdef";

/// The defaults, the test signing key, and `overrides` (environment names; an ES256 test
/// passes its own `JWT_SIGNING_KEY`).
pub fn test_config(overrides: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        let overridden = overrides
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned());
        match name {
            "JWT_SIGNING_KEY" => overridden.or_else(|| Some(TEST_SIGNING_KEY.to_owned())),
            _ => overridden,
        }
    })
    .expect("test configuration is valid")
}

/// An application over a fresh memory store, with the defaults plus `overrides` (env names).
pub fn app_with(overrides: &[(&str, &str)]) -> App<MemoryStore> {
    App::new(test_config(overrides), MemoryStore::new())
}

pub fn app() -> App<MemoryStore> {
    app_with(&[])
}

/// A mailer that keeps what it is given (or refuses, as SES refusing an unverified sender).
#[derive(Clone, Default)]
pub struct RecordingMailer {
    sent: std::sync::Arc<std::sync::Mutex<Vec<crate::mail::Email>>>,
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RecordingMailer {
    /// Every message sent so far, in order.
    pub fn sent(&self) -> Vec<crate::mail::Email> {
        self.sent.lock().map(|sent| sent.clone()).unwrap_or_default()
    }

    /// The messages sent to `to`.
    pub fn sent_to(&self, to: &str) -> Vec<crate::mail::Email> {
        self.sent().into_iter().filter(|email| email.to == to).collect()
    }

    /// Makes every following send fail as an unavailable service would (or stop failing).
    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, std::sync::atomic::Ordering::SeqCst);
    }
}

impl crate::mail::Mailer for RecordingMailer {
    fn send<'a>(&'a self, email: &'a crate::mail::Email) -> crate::mail::Sending<'a> {
        Box::pin(async move {
            if self.refusing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(crate::mail::MailError::Unavailable("SES MessageRejected".into()));
            }
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(email.clone());
            }
            Ok(())
        })
    }
}

/// An application over a fresh memory store sending into a [`RecordingMailer`] (returned too),
/// with the defaults, no answer floor, plus `overrides` (env names).
pub fn mailing_app_with(overrides: &[(&str, &str)]) -> (App<MemoryStore>, RecordingMailer) {
    let mut all = overrides.to_vec();
    all.push(("EMAIL_ANSWER_FLOOR_MS", "0"));
    let mailer = RecordingMailer::default();
    let app = App::new(test_config(&all), MemoryStore::new()).with_mailer(Box::new(mailer.clone()));
    (app, mailer)
}

/// The log lines written on this thread while the guard of [`capture_logs`] lives, in the JSON
/// Lambda receives from the functions (`crate::logging`'s subscriber, at INFO).
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Every line so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The lines carrying `alert` (`crate::logging::MAIL_SEND_FAILED`, ...).
    pub fn alerts(&self, alert: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|line| line["fields"]["alert"] == alert)
            .collect()
    }

    /// Everything written, as text (to check that nothing secret is in it).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's logs (a `#[tokio::test]` runs on one thread) until the guard drops.
pub fn capture_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = crate::logging::subscriber(
        move || writer.clone(),
        tracing_subscriber::filter::LevelFilter::INFO,
        "",
        true,
    );
    (logs, tracing::subscriber::set_default(subscriber))
}

/// An API Gateway REST API (payload 1.0) Lambda proxy event, as the deployed front door sends
/// it (stage `api`, resource as the template declares it), parsed into a request by
/// `lambda_http` itself. `cargo lambda watch` sends HTTP API (2.0) events: the end-to-end tests
/// cover those.
pub fn event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Request {
    let event = rest_event_json(method, path, headers, body);
    lambda_http::request::from_str(&event.to_string()).expect("a well-formed REST API event")
}

/// The JSON of that event, as Lambda hands it to a function (the bench's Runtime API sends it).
pub fn rest_event_json(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in headers {
        single.insert((*name).to_owned(), Value::String((*value).to_owned()));
        multi.insert((*name).to_owned(), json!([value]));
    }
    // The REST API matches `/x/` to the resource `/x`. Handlers route on `path`, never on
    // `resource`, so unknown paths need not name the `{proxy+}` resource here.
    let resource = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.execute-api.eu-west-1.amazonaws.com",
            "httpMethod": method,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"},
            "path": format!("/api{path}"),
            "protocol": "HTTP/1.1",
            "requestId": "test-request",
            "requestTime": "26/Nov/2026:12:00:00 +0000",
            "requestTimeEpoch": 1795694400000_i64,
            "resourceId": "abc123",
            "resourcePath": resource,
            "stage": "api"
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A POST with a JSON body.
pub fn post_json(path: &str, body: &Value, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    event("POST", path, &all, Some(&body.to_string()))
}

/// The JSON body of a response.
pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}

/// One header of a response, as text.
pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}

/// The `Set-Cookie` header that sets (or deletes) the cookie `name`, if any.
pub fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    set_cookies(response)
        .into_iter()
        .find(|cookie| cookie.starts_with(&prefix))
}

/// Asserts the headers every answer carries (contract §1).
pub fn assert_security_headers(response: &Response<Body>) {
    assert_eq!(header(response, "content-type"), Some("application/json"));
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(response, "x-frame-options"), Some("DENY"));
    assert_eq!(header(response, "referrer-policy"), Some("same-origin"));
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

/// What every POST route answers before its handler runs (the shared `serve`): 405 with
/// `Allow` for other methods, its methods to OPTIONS on both spellings of its path, and the
/// JSON 404 for paths it does not own.
pub async fn assert_post_route_conventions<F, Fut>(handler: F, path: &str, name: &str, foreign_paths: &[&str])
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    for method in ["GET", "PUT", "DELETE"] {
        let response = handler(event(method, path, &[], None)).await;
        assert_eq!(response.status(), 405, "{method}");
        assert_security_headers(&response);
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        assert_eq!(
            body_json(&response),
            json!({"detail": format!("Method \"{method}\" not allowed.")})
        );
    }
    for spelling in [path, path.trim_end_matches('/')] {
        let response = handler(event("OPTIONS", spelling, &[], None)).await;
        assert_eq!(response.status(), 200, "OPTIONS {spelling}");
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        assert_eq!(body_json(&response)["name"], name);
    }
    for foreign in foreign_paths {
        let response = handler(post_json(foreign, &json!({}), &[])).await;
        assert_eq!(response.status(), 404, "{foreign}");
        assert_security_headers(&response);
        assert_eq!(body_json(&response), json!({"detail": "Not found."}));
    }
}

/// Asserts a 204: no body, no `Content-Type`, the other headers every answer carries.
pub fn assert_no_content(response: &Response<Body>) {
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty(), "{:?}", response.body());
    assert_eq!(header(response, "content-type"), None);
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(response, "x-frame-options"), Some("DENY"));
    assert_eq!(header(response, "referrer-policy"), Some("same-origin"));
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

/// The `Authorization` values a protected route refuses for the session `tokens` of `user_id`,
/// each with mypage's 401 body (contract §2); `None` is no header at all.
pub fn refused_authorizations(
    app: &App<MemoryStore>,
    user_id: u64,
    tokens: &SessionTokens,
) -> Vec<(Option<String>, Value)> {
    use crate::tokens::TokenKind;
    let not_valid = |message: &str| {
        json!({
            "detail": "Given token not valid for any token type",
            "code": "token_not_valid",
            "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
        })
    };
    let no_credentials = json!({"detail": "Authentication credentials were not provided."});
    vec![
        (None, no_credentials.clone()),
        (Some(format!("Basic {}", tokens.access)), no_credentials),
        (
            Some("Bearer".to_owned()),
            json!({
                "detail": "Authorization header must contain two space-delimited values",
                "code": "bad_authorization_header",
            }),
        ),
        (Some(bearer("garbage")), not_valid("Token is invalid")),
        (
            Some(bearer(&foreign_token(TokenKind::Access, user_id, &tokens.session_id))),
            not_valid("Token is invalid"),
        ),
        (
            Some(bearer(&unsigned_copy(&tokens.access))),
            not_valid("Token is invalid"),
        ),
        (
            Some(bearer(&expired_token(
                app,
                TokenKind::Access,
                user_id,
                &tokens.session_id,
            ))),
            not_valid("Token is expired"),
        ),
        (Some(bearer(&tokens.refresh)), not_valid("Token has wrong type")),
    ]
}

/// `Bearer <token>`, for the `Authorization` header.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The tokens of one session, as login would hand them out.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub session_id: String,
    pub access: String,
    pub refresh: String,
}

/// Creates an active user straight in the store (no session), with a real Argon2 hash.
pub async fn create_user(app: &App<MemoryStore>, email: &str, password: &str) -> crate::store::User {
    use crate::store::{NewUser, Registration, UserStore};
    let new_user = NewUser {
        email: email.trim().to_lowercase(),
        password_hash: crate::auth::password::hash_password(&secrecy::SecretString::from(password))
            .expect("hashing works"),
        first_name: String::new(),
        last_name: String::new(),
        gender: String::new(),
        date_of_birth: None,
        is_staff: false,
        is_superuser: false,
        joined_at: crate::clock::timestamp(time::OffsetDateTime::now_utc()),
    };
    match app
        .store
        .create_user(new_user, None)
        .await
        .expect("the memory store is up")
    {
        Registration::Created(user) => user,
        Registration::EmailTaken => panic!("{email} is already registered"),
    }
}

/// Starts a new session for the user (what login does) and signs its tokens.
pub async fn start_session(app: &App<MemoryStore>, user_id: u64) -> SessionTokens {
    start_session_at(
        app,
        user_id,
        crate::store::SessionOrigin::default(),
        crate::clock::now_unix(),
    )
    .await
}

/// Starts a session as a login from `origin` at `now` (Unix seconds) would, and signs its tokens
/// at that time (so a session started long ago has expired tokens).
pub async fn start_session_at(
    app: &App<MemoryStore>,
    user_id: u64,
    origin: crate::store::SessionOrigin,
    now: i64,
) -> SessionTokens {
    use crate::store::SessionStore;
    let user = app.store.user(user_id).expect("the user exists");
    let session = crate::account::new_session(&app.tokens, now, origin);
    let tokens = crate::account::session_tokens(&app.tokens, user.id, &session, now).expect("signed");
    let session_id = session.id.clone();
    let started = app.store.start_session(&user, session, "2026-01-01T00:00:00Z").await;
    assert!(started.expect("the memory store is up"), "the user is active");
    SessionTokens {
        session_id,
        access: tokens.access.token,
        refresh: tokens.refresh.token,
    }
}

/// A user with one session: what a client holds after joining.
pub async fn join_user(app: &App<MemoryStore>, email: &str, password: &str) -> (crate::store::User, SessionTokens) {
    let user = create_user(app, email, password).await;
    let tokens = start_session(app, user.id).await;
    (user, tokens)
}

/// A correctly signed token of `kind` that expired long ago.
pub fn expired_token(app: &App<MemoryStore>, kind: crate::tokens::TokenKind, user_id: u64, session_id: &str) -> String {
    let issued_at = crate::clock::now_unix() - 100_000;
    app.tokens
        .issue(kind, user_id, session_id, crate::ids::random_id(), issued_at)
        .expect("signed")
        .token
}

/// A token signed with another deployment's key.
pub fn foreign_token(kind: crate::tokens::TokenKind, user_id: u64, session_id: &str) -> String {
    let config = Config::from_lookup(|name| {
        (name == "JWT_SIGNING_KEY").then(|| "another-deployment-signing-key-0123456789".to_owned())
    })
    .expect("test configuration is valid");
    let keys = config.token_keys();
    keys.issue(
        kind,
        user_id,
        session_id,
        crate::ids::random_id(),
        crate::clock::now_unix(),
    )
    .expect("signed")
    .token
}

/// The same claims as `token`, re-sent unsigned under `{"alg":"none","typ":"JWT"}`.
pub fn unsigned_copy(token: &str) -> String {
    // base64url of {"alg":"none","typ":"JWT"}
    const NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    format!("{NONE_HEADER}.{payload}.")
}
