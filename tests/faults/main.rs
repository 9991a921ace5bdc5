//! Store faults, for real: the real handlers over the real `DynamoStore`, against the local
//! DynamoDB server (`make test` starts it), with faults made where they happen in production:
//! an endpoint where nothing listens, a server stopped mid-test, and throttling answers or lost
//! connections injected into the SDK's own request pipeline by an interceptor. Every fault must
//! be answered 503 `{"detail":"Service temporarily unavailable."}` with `Retry-After` (never a
//! 500 or a hang), and a write that fails must leave the store as if the request had not started
//! (account deletion: or with no way to log in, its second step left to the sessions' TTL).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::App;
use shared::config::Config;
use shared::ids::random_id;
use shared::store::DynamoStore;
use shared::testing::{bearer, body_json, header, post_json, test_config};

const PASSWORD: &str = "Tutorial-Pw!7319";
const NEW_PASSWORD: &str = "Another-Pw!5521";
/// A hang guard, not a speed check: the SDK gives up after 4 s (`shared::aws`).
const HANG_GUARD: Duration = Duration::from_secs(30);

/// How an injected fault shows itself to the SDK.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The connection is refused (the request is sent to a port where nothing listens).
    Unreachable,
    /// DynamoDB answers 400 with this error code (the throttling family). The request itself
    /// reaches the server: a write is carried out, its answer replaced.
    Answers(&'static str),
    /// The first attempt reaches the server and is carried out, but its answer is lost: the
    /// SDK sees DynamoDB's 500 InternalServerError and retries the very same request.
    LostAnswerOnce,
}

/// Fails every attempt (retries included) of the operations named, by their `x-amz-target`
/// suffix; counts the attempts it failed.
#[derive(Debug, Clone)]
struct FaultInjector {
    operations: &'static [&'static str],
    fault: Fault,
    dead_endpoint: String,
    failed: Arc<AtomicUsize>,
}

impl FaultInjector {
    fn new(operations: &'static [&'static str], fault: Fault) -> Self {
        FaultInjector {
            operations,
            fault,
            dead_endpoint: dead_endpoint(),
            failed: Arc::default(),
        }
    }
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or_default();
        if !self.operations.contains(&operation) {
            return Ok(());
        }
        let earlier = self.failed.fetch_add(1, Ordering::SeqCst);
        match self.fault {
            Fault::LostAnswerOnce if earlier == 0 => {
                cfg.interceptor_state().store_put(Injected);
            }
            // Whatever an earlier attempt left in the bag, this one's answer stays.
            Fault::LostAnswerOnce => {
                cfg.interceptor_state().unset::<Injected>();
            }
            // The request never reaches the server: it is as if the connection failed.
            Fault::Unreachable => context.request_mut().set_uri(self.dead_endpoint.as_str())?,
            // Marked here (the request itself is gone once sent), answered in
            // `modify_before_deserialization`.
            Fault::Answers(_) => {
                cfg.interceptor_state().store_put(Injected);
            }
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (status, code) = match (cfg.load::<Injected>(), self.fault) {
            // The server's answer is replaced by DynamoDB's error (a write was carried out).
            (Some(Injected), Fault::Answers(code)) => (400, code),
            // The write was done; its answer becomes one the SDK retries.
            (Some(Injected), Fault::LostAnswerOnce) => (500, "InternalServerError"),
            _ => return Ok(()),
        };
        {
            let response = context.response_mut();
            *response.status_mut() = status.try_into()?;
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            *response.body_mut() = SdkBody::from(
                json!({
                    "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
                    "message": "injected by the fault tests",
                })
                .to_string(),
            );
        }
        Ok(())
    }
}

/// This operation's attempts get an injected answer.
#[derive(Debug, Clone)]
struct Injected;

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A local URL where nothing listens.
fn dead_endpoint() -> String {
    format!("http://127.0.0.1:{}/", free_port())
}

fn config() -> Config {
    test_config(&[])
}

/// An application over a fresh table on the local server, its client carrying `injector`
/// (the table itself is made by a client without faults).
async fn app_with(injector: Option<FaultInjector>) -> App<DynamoStore> {
    let table = e2e::fresh_local_table("fault-test").await;
    let sdk = shared::aws::sdk_config().await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk);
    if let Some(injector) = injector {
        builder = builder.interceptor(injector);
    }
    let client = aws_sdk_dynamodb::Client::from_conf(builder.build());
    App::new(config(), DynamoStore::new(client, table))
}

/// An application whose store endpoint has nothing listening.
async fn app_without_store() -> App<DynamoStore> {
    let sdk = shared::aws::sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(dead_endpoint())
        .build();
    App::new(
        self::config(),
        DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "accounts"),
    )
}

async fn answer(future: impl std::future::Future<Output = Response<Body>>) -> (Response<Body>, Duration) {
    let started = Instant::now();
    let response = tokio::time::timeout(HANG_GUARD, future)
        .await
        .expect("the function answered (no hang)");
    (response, started.elapsed())
}

#[track_caller]
fn assert_unavailable(what: &str, response: &Response<Body>, took: Duration) {
    assert_eq!(response.status().as_u16(), 503, "{what}: {:?}", body_json(response));
    assert_eq!(
        body_json(response),
        json!({"detail": "Service temporarily unavailable."}),
        "{what}"
    );
    let retry_after = header(response, "retry-after").unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!(
        retry_after.parse::<u32>().is_ok_and(|seconds| seconds >= 1),
        "{what}: Retry-After {retry_after}"
    );
    println!("{what}: 503 after {} ms", took.as_millis());
}

fn signup(email: &str) -> Value {
    json!({"email": email, "password1": PASSWORD, "password2": PASSWORD})
}

fn email() -> String {
    format!("fault-{}@example.com", random_id())
}

struct Tokens {
    access: String,
    refresh: String,
}

async fn joined(app: &App<DynamoStore>, email: &str) -> Tokens {
    let response = join::handle(app, post_json("/account/join/", &signup(email), &[])).await;
    assert_eq!(response.status().as_u16(), 201, "{:?}", body_json(&response));
    let body = body_json(&response);
    Tokens {
        access: body["access"].as_str().expect("access").to_owned(),
        refresh: body["refresh"].as_str().expect("refresh").to_owned(),
    }
}

fn mypage_request(access: &str) -> Request {
    shared::testing::event("GET", "/account/mypage/", &[("authorization", &bearer(access))], None)
}

fn login_request(email: &str, password: &str) -> Request {
    post_json("/account/login/", &json!({"email": email, "password": password}), &[])
}

fn refresh_request(refresh: &str) -> Request {
    post_json("/account/token/refresh/", &json!({"refresh": refresh}), &[])
}

fn logout_request(refresh: &str) -> Request {
    post_json("/account/logout/", &json!({"refresh": refresh}), &[])
}

fn password_change_request(access: &str) -> Request {
    post_json(
        "/account/password/change/",
        &json!({"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
        &[("authorization", &bearer(access))],
    )
}

#[tokio::test]
async fn every_route_answers_503_when_nothing_listens_at_the_store() {
    // Tokens from a healthy stack with the same key: the routes get as far as the store.
    let healthy = app_with(None).await;
    let address = email();
    let tokens = joined(&healthy, &address).await;
    let app = app_without_store().await;
    let (response, took) = answer(join::handle(&app, post_json("/account/join/", &signup(&email()), &[]))).await;
    assert_unavailable("join", &response, took);
    let (response, took) = answer(login::handle(&app, login_request(&address, PASSWORD))).await;
    assert_unavailable("login", &response, took);
    let (response, took) = answer(mypage::handle(&app, mypage_request(&tokens.access))).await;
    assert_unavailable("mypage", &response, took);
    let (response, took) = answer(refresh::handle(&app, refresh_request(&tokens.refresh))).await;
    assert_unavailable("token/refresh", &response, took);
    let (response, took) = answer(logout::handle(&app, logout_request(&tokens.refresh))).await;
    assert_unavailable("logout", &response, took);
    let (response, took) = answer(password_change::handle(&app, password_change_request(&tokens.access))).await;
    assert_unavailable("password/change", &response, took);
}

/// Each throttling error DynamoDB answers, on the first read of mypage and login.
#[tokio::test]
async fn throttling_answers_503() {
    let codes = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    ];
    futures::future::join_all(codes.map(throttled_reads_answer_503)).await;
}

async fn throttled_reads_answer_503(code: &'static str) {
    {
        let injector = FaultInjector::new(&["BatchGetItem", "GetItem"], Fault::Answers(code));
        let failed = injector.failed.clone();
        let app = app_with(Some(injector)).await;
        let (response, took) = answer(mypage::handle(&app, mypage_request(&forged_access(&app)))).await;
        assert_unavailable(&format!("mypage, {code}"), &response, took);
        let (response, took) = answer(login::handle(&app, login_request(&email(), PASSWORD))).await;
        assert_unavailable(&format!("login, {code}"), &response, took);
        assert!(failed.load(Ordering::SeqCst) >= 2, "{code}: the faults were injected");
    }
}

/// A call IAM refuses is a broken deploy, not a busy store: the request is answered 500 (no
/// retry helps, and no Retry-After invites one), and an alert line feeds the operators'
/// AccessDenied alarm (the template's metric filter on `fields.alert`).
#[tokio::test]
async fn a_call_iam_refuses_answers_500_and_raises_the_alert() {
    let injector = FaultInjector::new(&["BatchGetItem", "GetItem"], Fault::Answers("AccessDeniedException"));
    let app = app_with(Some(injector)).await;
    let (logs, _guard) = shared::testing::capture_logs();
    let response = mypage::handle(&app, mypage_request(&forged_access(&app))).await;
    assert_eq!(response.status().as_u16(), 500, "{:?}", body_json(&response));
    assert_eq!(body_json(&response), json!({"detail": "Internal server error."}));
    assert!(header(&response, "retry-after").is_none());
    let alerts = logs.alerts(shared::logging::AWS_ACCESS_DENIED);
    assert_eq!(alerts.len(), 1, "{}", logs.text());
    assert_eq!(alerts[0]["level"], "ERROR");
    assert_eq!(alerts[0]["fields"]["service"], "dynamodb");
}

/// An access token for a session that may not exist: enough to make mypage read the store.
fn forged_access(app: &App<DynamoStore>) -> String {
    app.tokens
        .issue(
            shared::tokens::TokenKind::Access,
            1,
            &random_id(),
            random_id(),
            shared::now_unix(),
        )
        .expect("signing")
        .token
}

/// Join's second write (the transaction after the id counter) fails: no user, no email claim,
/// so the same email joins cleanly once the store is back.
#[tokio::test]
async fn a_join_whose_second_write_fails_leaves_no_account() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::Unreachable);
    let failed = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let address = email();
    let (response, took) = answer(join::handle(&app, post_json("/account/join/", &signup(&address), &[]))).await;
    assert_unavailable("join, transaction lost", &response, took);
    assert!(failed.load(Ordering::SeqCst) >= 1);

    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let response = login::handle(&healthy, login_request(&address, PASSWORD)).await;
    assert_eq!(response.status().as_u16(), 400, "no account was left behind");
    joined(&healthy, &address).await;
}

/// Refresh, logout and password change, their write failing: the session and password are as
/// before, and the same request succeeds once the store is back.
#[tokio::test]
async fn failed_writes_change_nothing() {
    let injector = FaultInjector::new(&["UpdateItem", "TransactWriteItems"], Fault::Unreachable);
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let tokens = joined(&healthy, &address).await;

    let (response, took) = answer(refresh::handle(&app, refresh_request(&tokens.refresh))).await;
    assert_unavailable("refresh, rotation lost", &response, took);
    let (response, took) = answer(logout::handle(&app, logout_request(&tokens.refresh))).await;
    assert_unavailable("logout, revocation lost", &response, took);
    let (response, took) = answer(password_change::handle(&app, password_change_request(&tokens.access))).await;
    assert_unavailable("password change, transaction lost", &response, took);

    // Nothing happened: the old password logs in, the refresh token is unspent and rotates,
    // the session is live.
    let response = login::handle(&healthy, login_request(&address, PASSWORD)).await;
    assert_eq!(response.status().as_u16(), 200, "the password is unchanged");
    let response = refresh::handle(&healthy, refresh_request(&tokens.refresh)).await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "the refresh token was not spent: {:?}",
        body_json(&response)
    );
    let response = mypage::handle(&healthy, mypage_request(&tokens.access)).await;
    assert_eq!(response.status().as_u16(), 200, "the session is live");
}

/// Writes whose first answer was lost, retried by the SDK: each is carried out once and
/// answered as if the answer had arrived (issue 10's idempotent retries).
#[tokio::test]
async fn a_logout_whose_answer_was_lost_is_still_a_logout() {
    let injector = FaultInjector::new(&["UpdateItem"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    // Joined without faults: join's own UpdateItem (the id counter) must not take the loss.
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let tokens = joined(&healthy, &email()).await;
    let response = logout::handle(&app, logout_request(&tokens.refresh)).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the write was sent twice");
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let response = mypage::handle(&app, mypage_request(&tokens.access)).await;
    assert_eq!(response.status().as_u16(), 401, "the session is over");
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_hands_out_the_token_it_stored() {
    // The rotation is one transaction (the session, and a condition on the user).
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    // Joined without faults: join's own transaction must not take the loss.
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let tokens = joined(&healthy, &email()).await;
    let response = refresh::handle(&app, refresh_request(&tokens.refresh)).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the write was sent twice");
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let next = body_json(&response)["refresh"].as_str().expect("refresh").to_owned();
    let response = refresh::handle(&app, refresh_request(&next)).await;
    assert_eq!(response.status().as_u16(), 200, "the token handed out is the family's");
}

#[tokio::test]
async fn a_join_whose_answer_was_lost_is_created_once() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let address = email();
    let response = join::handle(&app, post_json("/account/join/", &signup(&address), &[])).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the transaction was sent twice");
    assert_eq!(response.status().as_u16(), 201, "{:?}", body_json(&response));
    let user = body_json(&response)["user"].clone();
    let response = login::handle(&app, login_request(&address, PASSWORD)).await;
    assert_eq!(body_json(&response)["user"], user, "one account, the one answered");
}

/// Every attempt of join's transaction reaches the store, and every answer is lost (the SDK
/// sees throttling each time and gives up): the first attempt created the user, and the join
/// says so (201), reading the email's claim, instead of calling its own email taken.
#[tokio::test]
async fn a_join_whose_every_answer_was_lost_is_created_not_taken() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::Answers("ThrottlingException"));
    let failed = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let address = email();
    let response = join::handle(&app, post_json("/account/join/", &signup(&address), &[])).await;
    assert!(failed.load(Ordering::SeqCst) >= 2, "retried, and lost every time");
    assert_eq!(response.status().as_u16(), 201, "{:?}", body_json(&response));
    let user = body_json(&response)["user"].clone();
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let response = login::handle(&healthy, login_request(&address, PASSWORD)).await;
    assert_eq!(body_json(&response)["user"], user, "one account, the one answered");
}

#[tokio::test]
async fn a_login_whose_answer_was_lost_starts_its_session() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    // Joined without faults: join's own transaction must not take the loss.
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    joined(&healthy, &address).await;
    let response = login::handle(&app, login_request(&address, PASSWORD)).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the transaction was sent twice");
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let access = body_json(&response)["access"].as_str().expect("access").to_owned();
    let response = mypage::handle(&app, mypage_request(&access)).await;
    assert_eq!(
        response.status().as_u16(),
        200,
        "the session answered is the one stored"
    );
}

#[tokio::test]
async fn a_profile_update_whose_answer_was_lost_answers_the_stored_user() {
    let injector = FaultInjector::new(&["UpdateItem"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let tokens = joined(&healthy, &email()).await;
    let authorization = bearer(&tokens.access);
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let body = json!({"first_name": "Retried"}).to_string();
    let request = shared::testing::event("PATCH", "/account/user/", &headers, Some(&body));
    let response = user::handle(&app, request).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the write was sent twice");
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    assert_eq!(body_json(&response)["first_name"], "Retried");
    let request = shared::testing::event("GET", "/account/user/", &headers[..1], None);
    let response = user::handle(&healthy, request).await;
    assert_eq!(
        body_json(&response)["first_name"],
        "Retried",
        "stored once, as answered"
    );
}

#[tokio::test]
async fn a_wrong_guess_whose_reservation_answer_was_lost_counts_once() {
    use shared::store::LoginThrottleStore;
    let injector = FaultInjector::new(&["PutItem"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let address = email();
    let response = login::handle(&app, login_request(&address, "Wrong-Guess!4402")).await;
    assert_eq!(
        lost.load(Ordering::SeqCst),
        3,
        "the reservation was sent twice, then the login_failed event's PutItem"
    );
    assert_eq!(response.status().as_u16(), 400, "{:?}", body_json(&response));
    let record = app.store.throttle_record(&address).await.expect("the record");
    assert_eq!(record.failures, 1, "counted once");
}

/// A DynamoDB server of this test's own (the project's moto wrapper), stopped mid-test: the
/// requests after it dies are answered 503, as the ones before it were answered normally.
#[tokio::test]
async fn the_store_stopping_mid_test_turns_answers_into_503() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let port = free_port().to_string();
    let mut server = StopOnDrop(
        std::process::Command::new("python")
            .arg(root.join("tools/dynamodb_server.py"))
            .args(["127.0.0.1", &port])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python with moto on PATH (make test puts .tools/venv/bin there)"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let sdk = shared::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .build(),
    );
    let store = DynamoStore::new(client, format!("fault-test-{}", random_id()));
    // Wait for the server to take requests (a condition polled, not a fixed sleep).
    let deadline = Instant::now() + HANG_GUARD;
    while store.create_table_if_missing().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the DynamoDB server on {endpoint} did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let app = App::new(config(), store);
    let address = email();
    let tokens = joined(&app, &address).await;
    assert_eq!(
        mypage::handle(&app, mypage_request(&tokens.access))
            .await
            .status()
            .as_u16(),
        200
    );

    server.0.kill().expect("stopping the server");
    server.0.wait().expect("the server stopped");
    let (response, took) = answer(mypage::handle(&app, mypage_request(&tokens.access))).await;
    assert_unavailable("mypage, server stopped", &response, took);
    let (response, took) = answer(login::handle(&app, login_request(&address, PASSWORD))).await;
    assert_unavailable("login, server stopped", &response, took);
    let (response, took) = answer(refresh::handle(&app, refresh_request(&tokens.refresh))).await;
    assert_unavailable("refresh, server stopped", &response, took);
}

/// A child process that is stopped however the test ends.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// --- Issue 13: sessions ended, the account deleted --------------------------------------------

fn delete_request(access: &str, password: &str) -> Request {
    post_json(
        "/account/user/delete/",
        &json!({"password": password}),
        &[("authorization", &bearer(access))],
    )
}

fn revoke_others_request(access: &str) -> Request {
    post_json(
        "/account/sessions/revoke-others/",
        &json!({}),
        &[("authorization", &bearer(access))],
    )
}

async fn logged_in(app: &App<DynamoStore>, email: &str) -> Tokens {
    let response = login::handle(app, login_request(email, PASSWORD)).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let body = body_json(&response);
    Tokens {
        access: body["access"].as_str().expect("access").to_owned(),
        refresh: body["refresh"].as_str().expect("refresh").to_owned(),
    }
}

/// The pk of the user a token belongs to.
fn user_id_of(app: &App<DynamoStore>, access: &str) -> u64 {
    app.tokens
        .verify(access, shared::tokens::TokenKind::Access)
        .expect("a token of ours")
        .user_id
}

/// Every token of these sessions is refused: access on mypage, refresh on refresh.
async fn assert_all_refused(app: &App<DynamoStore>, sessions: &[&Tokens]) {
    for tokens in sessions {
        let response = mypage::handle(app, mypage_request(&tokens.access)).await;
        assert_eq!(response.status().as_u16(), 401, "{:?}", body_json(&response));
        let response = refresh::handle(app, refresh_request(&tokens.refresh)).await;
        assert_eq!(response.status().as_u16(), 401, "{:?}", body_json(&response));
    }
}

/// The deletion's first step fails (its transaction never reaches the store): the whole account
/// is as it was, and the same request succeeds once the store is back.
#[tokio::test]
async fn a_deletion_whose_transaction_fails_leaves_the_whole_account() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::Unreachable);
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let first = joined(&healthy, &address).await;
    let second = logged_in(&healthy, &address).await;

    let (response, took) = answer(user_delete::handle(&app, delete_request(&second.access, PASSWORD))).await;
    assert_unavailable("user/delete, transaction lost", &response, took);
    for tokens in [&first, &second] {
        let response = mypage::handle(&healthy, mypage_request(&tokens.access)).await;
        assert_eq!(response.status().as_u16(), 200, "the account is whole");
    }
    logged_in(&healthy, &address).await;
    let response = user_delete::handle(&healthy, delete_request(&second.access, PASSWORD)).await;
    assert_eq!(response.status().as_u16(), 204, "{:?}", response.body());
    assert_all_refused(&healthy, &[&first, &second]).await;
}

/// A crash between the deletion's two steps, made by failing every read and write of the
/// second (the Query of the sessions, their batch delete): the answer is still 204, nobody can
/// log in, every token is refused (their user is gone), the email joins again as a new user, and
/// the sessions left behind carry the TTL that deletes them (the cleanup that finishes the job).
#[tokio::test]
async fn a_deletion_cut_short_after_its_transaction_leaves_no_way_in_and_sessions_that_expire() {
    use shared::store::SessionListStore;
    let injector = FaultInjector::new(&["Query", "BatchWriteItem"], Fault::Unreachable);
    let failed = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let first = joined(&healthy, &address).await;
    let second = logged_in(&healthy, &address).await;
    let caller = logged_in(&healthy, &address).await;
    let pk = user_id_of(&healthy, &caller.access);

    let (response, _) = answer(user_delete::handle(&app, delete_request(&caller.access, PASSWORD))).await;
    assert_eq!(response.status().as_u16(), 204, "{:?}", response.body());
    assert!(failed.load(Ordering::SeqCst) >= 1, "the sweep was cut short");

    let response = login::handle(&healthy, login_request(&address, PASSWORD)).await;
    assert_eq!(response.status().as_u16(), 400, "no way to log in");
    assert_all_refused(&healthy, &[&first, &second, &caller]).await;
    let left = healthy.store.list_sessions(pk).await.expect("the partition");
    assert_eq!(left.len(), 2, "the other sessions, left behind");
    let now = shared::now_unix();
    assert!(
        left.iter().all(|session| session.expires_at > now && !session.revoked),
        "dead by their missing user, and each expires by TTL"
    );
    let again = joined(&healthy, &address).await;
    assert!(user_id_of(&healthy, &again.access) > pk, "a new user, a new pk");
    assert_all_refused(&healthy, &[&first, &second]).await;
}

/// The transaction committed and its answer was lost; the SDK retried it and found the user
/// gone: a deletion, answered as one, and the sweep done.
#[tokio::test]
async fn a_deletion_whose_answer_was_lost_is_still_a_deletion() {
    use shared::store::SessionListStore;
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let first = joined(&healthy, &address).await;
    let caller = logged_in(&healthy, &address).await;
    let pk = user_id_of(&healthy, &caller.access);
    let response = user_delete::handle(&app, delete_request(&caller.access, PASSWORD)).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the transaction was sent twice");
    assert_eq!(response.status().as_u16(), 204, "{:?}", response.body());
    assert!(healthy.store.list_sessions(pk).await.expect("the partition").is_empty());
    assert_all_refused(&healthy, &[&first, &caller]).await;
}

/// Revoke-others' transaction committed and its answer was lost: the retry finds the user and
/// the caller's session at the next epoch, its own doing, and answers as the first attempt.
#[tokio::test]
async fn a_revoke_others_whose_answer_was_lost_is_still_done() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let other = joined(&healthy, &address).await;
    let caller = logged_in(&healthy, &address).await;
    let response = sessions_revoke_others::handle(&app, revoke_others_request(&caller.access)).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the transaction was sent twice");
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    assert_eq!(body_json(&response), json!({"revoked": 1}));
    assert_all_refused(&healthy, &[&other]).await;
    let response = mypage::handle(&healthy, mypage_request(&caller.access)).await;
    assert_eq!(response.status().as_u16(), 200, "the caller's session lives on");
}

/// The same recognition keeps a password change whose answer was lost a success (and the
/// new password the one stored).
#[tokio::test]
async fn a_password_change_whose_answer_was_lost_is_still_saved() {
    let injector = FaultInjector::new(&["TransactWriteItems"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let tokens = joined(&healthy, &address).await;
    let response = password_change::handle(&app, password_change_request(&tokens.access)).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the transaction was sent twice");
    assert_eq!(response.status().as_u16(), 200, "{:?}", body_json(&response));
    let response = login::handle(&healthy, login_request(&address, NEW_PASSWORD)).await;
    assert_eq!(response.status().as_u16(), 200, "the new password is the one stored");
}

/// A session ended by DELETE whose answer was lost: the retried write ends it again, 204.
#[tokio::test]
async fn ending_a_session_whose_answer_was_lost_is_still_ended() {
    let injector = FaultInjector::new(&["UpdateItem"], Fault::LostAnswerOnce);
    let lost = injector.failed.clone();
    let app = app_with(Some(injector)).await;
    let healthy = App::new(config(), DynamoStore::connect(app.store.table().to_owned()).await);
    let address = email();
    let other = joined(&healthy, &address).await;
    let caller = logged_in(&healthy, &address).await;
    let sid = app
        .tokens
        .verify(&other.access, shared::tokens::TokenKind::Access)
        .expect("ours")
        .session_id;
    let request = shared::testing::event(
        "DELETE",
        &format!("/account/sessions/{sid}/"),
        &[("authorization", &bearer(&caller.access))],
        None,
    );
    let response = sessions::handle(&app, request).await;
    assert_eq!(lost.load(Ordering::SeqCst), 2, "the write was sent twice");
    assert_eq!(response.status().as_u16(), 204);
    assert_all_refused(&healthy, &[&other]).await;
}

/// Issue 13's routes on a store where nothing listens: 503, as every route.
#[tokio::test]
async fn the_sessions_routes_and_deletion_answer_503_when_nothing_listens_at_the_store() {
    let healthy = app_with(None).await;
    let tokens = joined(&healthy, &email()).await;
    let app = app_without_store().await;
    let list = shared::testing::event(
        "GET",
        "/account/sessions/",
        &[("authorization", &bearer(&tokens.access))],
        None,
    );
    // Side by side: each waits out the SDK's retries against a refused connection.
    let (list, revoke, delete) = futures::join!(
        answer(sessions::handle(&app, list)),
        answer(sessions_revoke_others::handle(
            &app,
            revoke_others_request(&tokens.access)
        )),
        answer(user_delete::handle(&app, delete_request(&tokens.access, PASSWORD))),
    );
    assert_unavailable("sessions", &list.0, list.1);
    assert_unavailable("sessions/revoke-others", &revoke.0, revoke.1);
    assert_unavailable("user/delete", &delete.0, delete.1);
}

/// What each of issue 13's routes costs in DynamoDB requests, counted by the store, as the
/// README's table says.
#[tokio::test]
async fn the_new_routes_cost_the_round_trips_the_readme_lists() {
    let app = app_with(None).await;
    let address = email();
    let first = joined(&app, &address).await;
    let caller = logged_in(&app, &address).await;
    let counted = async |request: std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + '_>>| {
        let before = app.store.round_trips();
        let status = request.await.status().as_u16();
        (status, app.store.round_trips() - before)
    };
    let list = shared::testing::event(
        "GET",
        "/account/sessions/",
        &[("authorization", &bearer(&caller.access))],
        None,
    );
    assert_eq!(
        counted(Box::pin(sessions::handle(&app, list))).await,
        (200, 2),
        "BatchGetItem, Query"
    );
    let sid = app
        .tokens
        .verify(&first.access, shared::tokens::TokenKind::Access)
        .expect("ours")
        .session_id;
    let end = shared::testing::event(
        "DELETE",
        &format!("/account/sessions/{sid}/"),
        &[("authorization", &bearer(&caller.access))],
        None,
    );
    assert_eq!(
        counted(Box::pin(sessions::handle(&app, end))).await,
        (204, 3),
        "BatchGetItem, UpdateItem, then the session_ended event's PutItem"
    );
    logged_in(&app, &address).await;
    let revoke = revoke_others_request(&caller.access);
    assert_eq!(
        counted(Box::pin(sessions_revoke_others::handle(&app, revoke))).await,
        (200, 3),
        "BatchGetItem, Query, TransactWriteItems"
    );
    let revoke = revoke_others_request(&caller.access);
    assert_eq!(
        counted(Box::pin(sessions_revoke_others::handle(&app, revoke))).await,
        (200, 2),
        "none left to end: no write"
    );
    logged_in(&app, &address).await;
    let delete = delete_request(&caller.access, PASSWORD);
    assert_eq!(
        counted(Box::pin(user_delete::handle(&app, delete))).await,
        (204, 7),
        "BatchGetItem, GetItem and PutItem (the throttle), TransactWriteItems, then beside each other the Query \
         of the sessions with their BatchWriteItem and the Query of the provider links (none)"
    );
}
