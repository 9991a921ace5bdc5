//! CPU per request as Lambda bills it: each real function binary driven through our own
//! Runtime API (`bench::runtime_api`) against the local DynamoDB server, and the user plus
//! system time of its process read from the kernel before and after N requests sent one after
//! another. That is the whole process — the runtime loop fetching the event and posting the
//! answer, event parsing, the handler, the SDK's HTTP, logging at INFO as deployed — where
//! `warm` measures the handler alone, in process.
//!
//! Routes: join (unique emails), login, mypage, token/refresh (rotation on, each request with
//! the refresh token the previous answer returned, as a client does), token/verify, user (GET,
//! and PATCH of the first name), sessions (GET of a user with three sessions, and DELETE of one
//! of them: ending an ended session again is the same write), sessions/revoke-others (one other
//! session to end each time) and user/delete (an account with two sessions each time). What a
//! request needs that the route itself destroys — the other session revoke-others ends, the
//! account user/delete deletes — is written by this process before the request is sent, so it
//! counts neither in the function's CPU nor in the wall time. Beside the hashing routes,
//! one raw Argon2 hash and one raw verify measured in this process, in the same run.
//!
//! Usage: `cpu-per-request [BIN_DIR (target/release)] [N (2000)] [N_HASHING (100)]`. Needs
//! `AWS_ENDPOINT_URL_DYNAMODB` (tools/bench.sh starts a local server). Prints Markdown.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::runtime_api::{Invocation, Place, Run, SIGNING_KEY, api_gateway_event};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::account::{new_session, session_tokens};
use shared::auth::password::{hash_password, verify_password};
use shared::config::Config;
use shared::ids::random_id;
use shared::store::{DynamoStore, NewUser, Registration, SessionListStore, SessionOrigin, SessionStore, UserStore};
use shared::tokens::TokenKeys;

const PASSWORD: &str = "Tutorial-Pw!7319";
/// Requests before the clock starts: connections opened, caches and allocator warm.
const WARM_UP: usize = 20;

/// A request to send and the status its answer must carry.
fn invocation(method: &str, path: &str, body: Option<&Value>, bearer: Option<&str>, status: u16) -> Invocation {
    let body = body.map(Value::to_string);
    Invocation {
        event: api_gateway_event(method, path, body.as_deref(), bearer),
        status,
    }
}

/// The JSON body of an API Gateway response the function posted (`null` for a 204's none).
fn answer_body(answer: &Value) -> Result<Value, String> {
    match answer["body"].as_str() {
        None | Some("") if answer["statusCode"] == 204 => Ok(Value::Null),
        None => Err("an answer without a body".to_owned()),
        Some(text) => serde_json::from_str(text).map_err(|error| format!("an answer body that is not JSON: {error}")),
    }
}

fn text(body: &Value, key: &str) -> Result<String, String> {
    body[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {key} in {body}"))
}

/// What one route cost.
struct Measured {
    route: &'static str,
    requests: usize,
    cpu_ms: f64,
    wall_ms: f64,
}

/// Runs `binary`, sends `WARM_UP` then `requests` requests one after another (`next` makes each
/// from the previous answer's body, `None` before the first), and reads the process's CPU time
/// around the measured ones.
async fn measure(
    dir: &std::path::Path,
    place: &Place<'_>,
    route: &'static str,
    binary: &'static str,
    requests: usize,
    mut next: impl FnMut(usize, Option<&Value>) -> Invocation,
) -> Result<Measured, String> {
    measure_prepared(dir, place, route, binary, requests, async |i, previous| {
        Ok(next(i, previous))
    })
    .await
}

/// `measure`, where making a request may first write to the store from this process (the
/// function is idle meanwhile: its CPU time does not grow, and the wall time counts only from
/// each request sent to its answer).
async fn measure_prepared(
    dir: &std::path::Path,
    place: &Place<'_>,
    route: &'static str,
    binary: &'static str,
    requests: usize,
    mut next: impl AsyncFnMut(usize, Option<&Value>) -> Result<Invocation, String>,
) -> Result<Measured, String> {
    let (mut run, _) = Run::start(dir, binary, Vec::new(), place).await?;
    let mut previous: Option<Value> = None;
    let mut cpu_before = 0.0;
    let mut wall = Duration::ZERO;
    for i in 0..WARM_UP + requests {
        if i == WARM_UP {
            cpu_before = match run.cpu_seconds() {
                Ok(seconds) => seconds,
                Err(why) => return Err(run.fail(why).await),
            };
            wall = Duration::ZERO;
        }
        let invocation = match next(i, previous.as_ref()).await {
            Ok(invocation) => invocation,
            Err(why) => return Err(run.fail(why).await),
        };
        let started = Instant::now();
        let sent = run.send(invocation);
        let answered = match sent {
            Ok(()) => run.answer().await,
            Err(why) => Err(why),
        };
        wall += started.elapsed();
        match answered.and_then(|answered| answer_body(&answered.answer)) {
            Ok(body) => previous = Some(body),
            Err(why) => return Err(run.fail(why).await),
        }
    }
    let cpu_after = match run.cpu_seconds() {
        Ok(seconds) => seconds,
        Err(why) => return Err(run.fail(why).await),
    };
    run.stop().await;
    Ok(Measured {
        route,
        requests,
        cpu_ms: (cpu_after - cpu_before) * 1000.0 / requests as f64,
        wall_ms: wall.as_secs_f64() * 1000.0 / requests as f64,
    })
}

/// CPU time of this whole process, from the kernel.
fn own_cpu() -> Duration {
    let mut spec = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut spec) };
    Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32)
}

/// One raw Argon2 hash and one raw verify, in milliseconds of CPU, averaged over `runs`.
fn raw_argon2(runs: usize) -> Result<(f64, f64), String> {
    let password = SecretString::from(PASSWORD);
    let before = own_cpu();
    let mut hash = String::new();
    for _ in 0..runs {
        hash = hash_password(&password).map_err(|_| "hashing failed")?;
    }
    let hashing = (own_cpu() - before).as_secs_f64() * 1000.0 / runs as f64;
    let before = own_cpu();
    for _ in 0..runs {
        if !verify_password(&password, &hash) {
            return Err("a raw verify refused its own hash".to_owned());
        }
    }
    let verifying = (own_cpu() - before).as_secs_f64() * 1000.0 / runs as f64;
    Ok((hashing, verifying))
}

/// What this process writes for issue 13's routes: accounts with the bench's password (one
/// Argon2 hash, reused) and their sessions, signed with the key the functions are given.
struct Setup {
    store: DynamoStore,
    keys: TokenKeys,
    password_hash: String,
}

/// A session's id and tokens.
struct Tokens {
    session_id: String,
    access: String,
}

impl Setup {
    async fn new(table: &str) -> Result<Self, String> {
        let config = Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| SIGNING_KEY.to_owned()))
            .map_err(|error| error.to_string())?;
        let password_hash = hash_password(&SecretString::from(PASSWORD)).map_err(|_| "hashing failed")?;
        Ok(Setup {
            store: DynamoStore::connect(table.to_owned()).await,
            keys: config.token_keys(),
            password_hash,
        })
    }

    /// A session about to start, as the bench's client: its ids, not yet its user.
    fn new_session(&self) -> shared::store::NewSession {
        let origin = SessionOrigin {
            device: "runtime-loop-bench".to_owned(),
            ip: Some("127.0.0.1".to_owned()),
        };
        new_session(&self.keys, shared::now_unix(), origin)
    }

    /// The session's access token, for `user_id`.
    fn sign(&self, user_id: u64, session: &shared::store::NewSession) -> Result<Tokens, String> {
        let signed = session_tokens(&self.keys, user_id, session, shared::now_unix()).map_err(|_| "signing failed")?;
        Ok(Tokens {
            session_id: session.id.clone(),
            access: signed.access.token,
        })
    }

    /// A new account with one session (as join makes it).
    async fn account(&self) -> Result<(shared::store::User, Tokens), String> {
        let new_user = NewUser {
            email: format!("cpu-bench-{}@example.com", random_id()),
            password_hash: self.password_hash.clone(),
            first_name: String::new(),
            last_name: String::new(),
            gender: String::new(),
            date_of_birth: None,
            is_staff: false,
            is_superuser: false,
            joined_at: "2026-11-26T12:00:00Z".to_owned(),
        };
        let session = self.new_session();
        match self.store.create_user(new_user, Some(session.clone()), &[]).await {
            Ok(Registration::Created(user)) => {
                let tokens = self.sign(user.id, &session)?;
                Ok((user, tokens))
            }
            Ok(Registration::EmailTaken) => Err("a fresh bench email was taken".to_owned()),
            Err(error) => Err(error.to_string()),
        }
    }

    /// One more session of `user` (as login starts it).
    async fn log_in(&self, user: &shared::store::User) -> Result<Tokens, String> {
        let session = self.new_session();
        let tokens = self.sign(user.id, &session)?;
        match self
            .store
            .start_session(user, session, "2026-11-26T12:00:00Z", &[])
            .await
        {
            Ok(true) => Ok(tokens),
            Ok(false) => Err("the bench account refused a session".to_owned()),
            Err(error) => Err(error.to_string()),
        }
    }
}

struct Args {
    dir: PathBuf,
    requests: usize,
    hashing_requests: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/release".to_owned()));
    let number = |value: Option<String>, default: usize| match value {
        None => Ok(default),
        Some(text) => text.parse::<usize>().map_err(|_| format!("not a count: {text}")),
    };
    let requests = number(args.next(), 2000)?;
    let hashing_requests = number(args.next(), 100)?;
    if requests == 0 || hashing_requests == 0 {
        return Err("counts must be positive".to_owned());
    }
    Ok(Args {
        dir,
        requests,
        hashing_requests,
    })
}

async fn bench() -> Result<(), String> {
    let usage = "usage: cpu-per-request [BIN_DIR (target/release)] [N (2000)] [N_HASHING (100)]";
    let args = parse_args().map_err(|why| format!("{why}\n{usage}"))?;
    let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .map_err(|_| "AWS_ENDPOINT_URL_DYNAMODB is not set: tools/bench.sh starts a local DynamoDB".to_owned())?;
    let table = format!("cpu-bench-{}", random_id());
    DynamoStore::connect(table.clone())
        .await
        .create_table_if_missing()
        .await
        .map_err(|error| format!("cannot create the bench table: {error}"))?;
    let place = Place {
        dynamodb: &dynamodb,
        table: &table,
        log_level: "info",
        json_logs: true,
        extra_env: &[],
    };
    let dir = args.dir.as_path();
    let (n, n_hashing) = (args.requests, args.hashing_requests);
    let email = |i: usize| format!("cpu-bench-{i}-{}@example.com", random_id());
    let signup = |address: String| json!({"email": address, "password1": PASSWORD, "password2": PASSWORD});

    // One account for the other routes, made through the join binary itself.
    let account = email(0);
    let mut results = Vec::new();
    eprintln!("join: {n_hashing} requests");
    let first = signup(account.clone());
    results.push(
        measure(dir, &place, "join", "join", n_hashing, |i, _| {
            let body = if i == 0 { first.clone() } else { signup(email(i)) };
            invocation("POST", "/account/join/", Some(&body), None, 201)
        })
        .await?,
    );
    let credentials = json!({"email": account, "password": PASSWORD});
    eprintln!("login: {n_hashing} requests");
    results.push(
        measure(dir, &place, "login", "login", n_hashing, |_, _| {
            invocation("POST", "/account/login/", Some(&credentials), None, 200)
        })
        .await?,
    );

    // A fresh session's tokens for mypage and refresh, from one more login.
    let (mut run, _) = Run::start(dir, "login", Vec::new(), &place).await?;
    let tokens = match run.send(invocation("POST", "/account/login/", Some(&credentials), None, 200)) {
        Ok(()) => run.answer().await.and_then(|answered| answer_body(&answered.answer)),
        Err(why) => Err(why),
    };
    run.stop().await;
    let tokens = tokens?;
    let access = text(&tokens, "access")?;
    let first_refresh = text(&tokens, "refresh")?;

    eprintln!("mypage: {n} requests");
    results.push(
        measure(dir, &place, "mypage", "mypage", n, |_, _| {
            invocation("GET", "/account/mypage/", None, Some(&access), 200)
        })
        .await?,
    );
    eprintln!("token/refresh: {n} requests");
    results.push(
        measure(dir, &place, "token/refresh", "refresh", n, |_, previous| {
            // Rotation is on: each refresh presents the token the one before returned.
            let refresh = previous
                .and_then(|body| body["refresh"].as_str())
                .unwrap_or(&first_refresh);
            invocation(
                "POST",
                "/account/token/refresh/",
                Some(&json!({"refresh": refresh})),
                None,
                200,
            )
        })
        .await?,
    );

    eprintln!("token/verify: {n} requests");
    let verify_body = json!({"token": access});
    results.push(
        measure(dir, &place, "token/verify", "token-verify", n, |_, _| {
            invocation("POST", "/account/token/verify/", Some(&verify_body), None, 200)
        })
        .await?,
    );
    eprintln!("user GET: {n} requests");
    results.push(
        measure(dir, &place, "user GET", "user", n, |_, _| {
            invocation("GET", "/account/user/", None, Some(&access), 200)
        })
        .await?,
    );
    eprintln!("user PATCH: {n} requests");
    results.push(
        measure(dir, &place, "user PATCH", "user", n, |i, _| {
            let body = json!({"first_name": format!("Ada{i}")});
            invocation("PATCH", "/account/user/", Some(&body), Some(&access), 200)
        })
        .await?,
    );

    // Issue 13's routes, for an account of their own made in this process (the store and the
    // signing key the functions use): three sessions, as a user with a laptop, a phone and a tablet.
    // In a table of their own: the local server copies a whole table for every transaction, and
    // these routes run one (with one more of the setup's) per request.
    let table = format!("cpu-bench-{}", random_id());
    DynamoStore::connect(table.clone())
        .await
        .create_table_if_missing()
        .await
        .map_err(|error| format!("cannot create the bench table: {error}"))?;
    let place = Place {
        dynamodb: &dynamodb,
        table: &table,
        log_level: "info",
        json_logs: true,
        extra_env: &[],
    };
    let setup = Setup::new(&table).await?;
    let owner = setup.account().await?;
    let phone = setup.log_in(&owner.0).await?;
    let tablet = setup.log_in(&owner.0).await?;
    eprintln!("sessions GET: {n} requests");
    results.push(
        measure(dir, &place, "sessions GET", "sessions", n, |_, _| {
            invocation("GET", "/account/sessions/", None, Some(&owner.1.access), 200)
        })
        .await?,
    );
    eprintln!("sessions DELETE: {n} requests");
    let ended = format!("/account/sessions/{}/", tablet.session_id);
    results.push(
        measure(dir, &place, "sessions DELETE", "sessions", n, |_, _| {
            invocation("DELETE", &ended, None, Some(&owner.1.access), 204)
        })
        .await?,
    );
    eprintln!("sessions/revoke-others: {n} requests");
    let revoke_body = json!({});
    let mut ended: Option<String> = None;
    results.push(
        measure_prepared(
            dir,
            &place,
            "sessions/revoke-others",
            "sessions-revoke-others",
            n,
            async |_, _| {
                // One more session to end each time. The one the request before ended is deleted
                // first, so the partition the route reads stays a user's few sessions (TTL would
                // delete it a day later; thousands would measure the local server's Query).
                if let Some(id) = ended.take() {
                    setup
                        .store
                        .delete_sessions(owner.0.id, &[id])
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let view = setup
                    .store
                    .load(owner.0.id, &phone.session_id)
                    .await
                    .map_err(|e| e.to_string())?;
                let user = view.user.ok_or("the bench account is gone")?;
                ended = Some(setup.log_in(&user).await?.session_id);
                Ok(invocation(
                    "POST",
                    "/account/sessions/revoke-others/",
                    Some(&revoke_body),
                    Some(&phone.access),
                    200,
                ))
            },
        )
        .await?,
    );
    eprintln!("user/delete: {n_hashing} requests");
    let delete_body = json!({"password": PASSWORD});
    results.push(
        measure_prepared(dir, &place, "user/delete", "user-delete", n_hashing, async |_, _| {
            let (user, tokens) = setup.account().await?;
            setup.log_in(&user).await?;
            Ok(invocation(
                "POST",
                "/account/user/delete/",
                Some(&delete_body),
                Some(&tokens.access),
                204,
            ))
        })
        .await?,
    );

    eprintln!("raw Argon2: {n_hashing} hashes and verifies");
    let (raw_hash, raw_verify) = raw_argon2(n_hashing)?;

    println!("| route | CPU ms per request | wall ms per request | requests |");
    println!("| --- | ---: | ---: | ---: |");
    for result in &results {
        println!(
            "| {} | {:.3} | {:.2} | {} |",
            result.route, result.cpu_ms, result.wall_ms, result.requests
        );
    }
    println!();
    println!("| raw Argon2id (this process, same run) | CPU ms |");
    println!("| --- | ---: |");
    println!("| hash | {raw_hash:.2} |");
    println!("| verify | {raw_verify:.2} |");
    let by_route = |route: &str| {
        results
            .iter()
            .find(|result| result.route == route)
            .map(|result| result.cpu_ms)
    };
    if let (Some(join), Some(login)) = (by_route("join"), by_route("login")) {
        println!();
        println!(
            "join / raw hash: {:.2}×; login / raw verify: {:.2}×.",
            join / raw_hash,
            login / raw_verify
        );
    }
    Ok(())
}

// One thread serves the runtime API and times it, leaving the other core to the function.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match bench().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cpu-per-request: {why}");
            ExitCode::FAILURE
        }
    }
}
