//! Warm cost per route, in process: each handler called directly (no HTTP, no Lambda), over the
//! in-memory store (our code alone) and over the local DynamoDB server (our code plus the store),
//! on a single-threaded runtime so the process CPU clock counts this request's work only.
//!
//! Prints Markdown: latency p50/p99 and CPU per request per route, DynamoDB round trips counted
//! by the store, Argon2 parameters and raw times, and the login ratios the performance issue asks
//! for. Usage: `warm [ITERATIONS]` (default 200; Argon2 routes run a quarter of that).
//! Set `AWS_ENDPOINT_URL_DYNAMODB` (a local server) to include the DynamoDB rows.

use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::App;
use shared::account::{new_session, session_tokens};
use shared::store::{DynamoStore, MemoryStore, Store};
use shared::testing::{TEST_SIGNING_KEY, body_json, event, post_json};

const PASSWORD: &str = "Tutorial-Pw!7319";

/// CPU time of the whole process (all threads), from the kernel.
fn process_cpu() -> Duration {
    let mut spec = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut spec) };
    Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32)
}

/// What one route cost over many calls.
struct Sample {
    wall: Vec<Duration>,
    cpu: Duration,
    round_trips: Option<f64>,
}

impl Sample {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.wall.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    }

    fn cpu_per_call_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.wall.len() as f64
    }
}

/// Something that can count DynamoDB requests (the memory store cannot).
trait Counted {
    fn round_trips(&self) -> Option<u64>;
}

impl Counted for MemoryStore {
    fn round_trips(&self) -> Option<u64> {
        None
    }
}

impl Counted for DynamoStore {
    fn round_trips(&self) -> Option<u64> {
        Some(DynamoStore::round_trips(self))
    }
}

/// Times `iterations` calls; `prepare` builds each request outside the timed part.
async fn measure<S, P, PF, C, CF>(app: &App<S>, iterations: usize, mut prepare: P, mut call: C) -> Sample
where
    S: Store + Counted,
    P: FnMut(usize) -> PF,
    PF: Future<Output = Request>,
    C: FnMut(Request) -> CF,
    CF: Future<Output = (Response<Body>, u16)>,
{
    let mut wall = Vec::with_capacity(iterations);
    let mut cpu = Duration::ZERO;
    let mut trips = 0u64;
    for i in 0..iterations {
        let request = prepare(i).await;
        let trips_before = app.store.round_trips();
        let cpu_before = process_cpu();
        let started = Instant::now();
        let (response, expected) = call(request).await;
        wall.push(started.elapsed());
        cpu += process_cpu() - cpu_before;
        trips += app
            .store
            .round_trips()
            .zip(trips_before)
            .map_or(0, |(after, before)| after - before);
        assert_eq!(
            response.status().as_u16(),
            expected,
            "{}",
            String::from_utf8_lossy(response.body())
        );
    }
    let round_trips = app.store.round_trips().map(|_| trips as f64 / iterations as f64);
    Sample { wall, cpu, round_trips }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A user with `PASSWORD` and a live session; returns (access, refresh, user id).
async fn user_with_session<S: Store>(app: &App<S>, email: &str) -> (String, String, u64) {
    let response = join::handle(app, post_json("/account/join/", &signup(email), &[])).await;
    assert_eq!(response.status(), 201);
    let body = body_json(&response);
    let text = |key: &str| body[key].as_str().expect("token").to_owned();
    (
        text("access"),
        text("refresh"),
        body["user"]["pk"].as_u64().expect("pk"),
    )
}

fn signup(email: &str) -> Value {
    json!({"email": email, "password1": PASSWORD, "password2": PASSWORD})
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// Every route measured over one store; rows of (route, sample).
async fn measure_routes<S: Store + Counted>(app: &App<S>, run: &str, iterations: usize) -> Vec<(&'static str, Sample)> {
    let hashing = (iterations / 4).max(5);
    let mut rows = Vec::new();
    let email = format!("bench-{run}@example.com");
    let (access, refresh, user_id) = user_with_session(app, &email).await;

    let sample = measure(
        app,
        iterations,
        |_| async { event("GET", "/account/mypage/", &[("authorization", &bearer(&access))], None) },
        |request| async { (mypage::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("mypage", sample));

    let sample = measure(
        app,
        iterations,
        |_| async { post_json("/account/token/verify/", &json!({"token": access}), &[]) },
        |request| async { (token_verify::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("token/verify", sample));

    let sample = measure(
        app,
        iterations,
        |_| async { event("GET", "/account/user/", &[("authorization", &bearer(&access))], None) },
        |request| async { (user::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("user GET", sample));

    let sample = measure(
        app,
        iterations,
        |i| {
            let authorization = bearer(&access);
            async move {
                let mut request = post_json(
                    "/account/user/",
                    &json!({"first_name": format!("Ada{i}")}),
                    &[("authorization", &authorization)],
                );
                *request.method_mut() = lambda_http::http::Method::PATCH;
                request
            }
        },
        |request| async { (user::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("user PATCH", sample));

    // Rotation: each call spends the token the previous call returned.
    let current = std::cell::RefCell::new(refresh);
    let sample = measure(
        app,
        iterations,
        |_| {
            let token = current.borrow().clone();
            async move { post_json("/account/token/refresh/", &json!({"refresh": token}), &[]) }
        },
        |request| async {
            let response = refresh::handle(app, request).await;
            if let Some(next) = body_json(&response)["refresh"].as_str() {
                *current.borrow_mut() = next.to_owned();
            }
            (response, 200)
        },
    )
    .await;
    rows.push(("token/refresh", sample));

    // Logout needs a fresh session each time: started outside the timed part.
    let sample = measure(
        app,
        iterations,
        |_| async {
            let now = shared::now_unix();
            let session = new_session(&app.tokens, now, shared::store::SessionOrigin::default());
            let tokens = session_tokens(&app.tokens, user_id, &session, now).expect("signed");
            let user = app
                .store
                .load(user_id, &session.id)
                .await
                .expect("store")
                .user
                .expect("user");
            assert!(
                app.store
                    .start_session(&user, session, "2026-11-26T00:00:00Z", &[])
                    .await
                    .expect("store")
            );
            post_json("/account/logout/", &json!({"refresh": tokens.refresh.token}), &[])
        },
        |request| async { (logout::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("logout", sample));

    let sample = measure(
        app,
        hashing,
        |_| async { post_json("/account/login/", &login_body(&email, PASSWORD), &[]) },
        |request| async { (login::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("login", sample));

    let sample = measure(
        app,
        hashing,
        |_| async { post_json("/account/login/", &login_body(&email, "Wrong-Pw!0000"), &[]) },
        |request| async { (login::handle(app, request).await, 400) },
    )
    .await;
    rows.push(("login, wrong password", sample));

    let sample = measure(
        app,
        hashing,
        |i| {
            let unknown = format!("nobody-{run}-{i}@example.com");
            async move { post_json("/account/login/", &login_body(&unknown, "Wrong-Pw!0000"), &[]) }
        },
        |request| async { (login::handle(app, request).await, 400) },
    )
    .await;
    rows.push(("login, unknown email", sample));

    let sample = measure(
        app,
        hashing,
        |i| {
            let fresh = format!("joiner-{run}-{i}@example.com");
            async move { post_json("/account/join/", &signup(&fresh), &[]) }
        },
        |request| async { (join::handle(app, request).await, 201) },
    )
    .await;
    rows.push(("join", sample));

    let (changer_access, _, _) = user_with_session(app, &format!("changer-{run}@example.com")).await;
    let sample = measure(
        app,
        hashing,
        |i| {
            let password = format!("Changed-Pw!{i:04}");
            let authorization = bearer(&changer_access);
            async move {
                let body = json!({"new_password1": password, "new_password2": password});
                post_json("/account/password/change/", &body, &[("authorization", &authorization)])
            }
        },
        |request| async { (password_change::handle(app, request).await, 200) },
    )
    .await;
    rows.push(("password/change", sample));
    rows
}

fn app_over<S>(store: S) -> App<S> {
    // The login throttle stays on, so a refused login costs what it costs in production (the
    // failure is counted), but it never locks: the bench refuses one email hundreds of times.
    let config = shared::config::Config::from_lookup(|name| match name {
        "JWT_SIGNING_KEY" => Some(TEST_SIGNING_KEY.to_owned()),
        "LOGIN_THROTTLE_FAILURES" => Some(u32::MAX.to_string()),
        _ => None,
    })
    .expect("configuration");
    App::new(config, store)
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut tables = Vec::new();
        let memory = app_over(MemoryStore::new());
        tables.push(("memory", measure_routes(&memory, "memory", iterations).await));
        if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok() {
            let store = DynamoStore::connect(format!("bench-{}", shared::ids::random_id())).await;
            store.create_table_if_missing().await.expect("table");
            let dynamo = app_over(store);
            tables.push((
                "local DynamoDB (moto)",
                measure_routes(&dynamo, "dynamodb", iterations).await,
            ));
        }

        println!("| route | store | p50 ms | p99 ms | CPU ms / request | DynamoDB round trips |");
        println!("| --- | --- | ---: | ---: | ---: | ---: |");
        for (store, rows) in &tables {
            for (route, sample) in rows {
                let trips = sample.round_trips.map_or("—".to_owned(), |t| format!("{t:.2}"));
                println!(
                    "| {route} | {store} | {:.2} | {:.2} | {:.2} | {trips} |",
                    sample.percentile(0.5),
                    sample.percentile(0.99),
                    sample.cpu_per_call_ms()
                );
            }
        }

        // Argon2 alone, beside login over the memory store (the same process, the same minute).
        let password = SecretString::from(PASSWORD.to_owned());
        let mut hashes = Vec::new();
        let mut verifies = Vec::new();
        let mut phc = String::new();
        for _ in 0..(iterations / 4).max(5) {
            let started = Instant::now();
            phc = shared::auth::password::hash_password(&password).expect("hash");
            hashes.push(started.elapsed());
            let started = Instant::now();
            assert!(shared::auth::password::verify_password(&password, &phc));
            verifies.push(started.elapsed());
        }
        let (hash_ms, verify_ms) = (median(hashes), median(verifies));
        let memory_rows = &tables[0].1;
        let p50 = |name: &str| {
            memory_rows
                .iter()
                .find(|(route, _)| *route == name)
                .map(|(_, s)| s.percentile(0.5))
                .unwrap_or(f64::NAN)
        };
        println!();
        println!(
            "Argon2id parameters: `{}`",
            phc.split('$').take(4).collect::<Vec<_>>().join("$")
        );
        println!("- raw hash p50 {hash_ms:.2} ms, raw verify p50 {verify_ms:.2} ms");
        println!(
            "- login (memory store) p50 {:.2} ms = {:.2}× one raw verify (goal ≤ 1.3×)",
            p50("login"),
            p50("login") / verify_ms
        );
        for (store, rows) in &tables {
            let p50 = |name: &str| {
                rows.iter()
                    .find(|(route, _)| *route == name)
                    .map(|(_, s)| s.percentile(0.5))
                    .unwrap_or(f64::NAN)
            };
            let ratio = p50("login, unknown email") / p50("login, wrong password");
            println!(
                "- {store}: unknown-email login p50 {:.2} ms vs wrong-password login p50 {:.2} ms: {:+.1}% (goal ±10%)",
                p50("login, unknown email"),
                p50("login, wrong password"),
                (ratio - 1.0) * 100.0
            );
        }
        println!(
            "- iterations: {iterations} per cheap route, {} per Argon2 route",
            (iterations / 4).max(5)
        );
    });
}
