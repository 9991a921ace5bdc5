//! Cold start and peak memory of each function binary, against a Lambda Runtime API of our own.
//!
//! Each binary is run as Lambda runs it: a fresh process pointed by `AWS_LAMBDA_RUNTIME_API` at an
//! HTTP server that hands out invocation events and receives the answers. Serving that API here,
//! rather than through `cargo lambda watch`, keeps an emulator's own overhead out of the numbers.
//!
//! - Cold start: from just before spawn to the arrival of the answer to the first event, an
//!   OPTIONS request (answered without the store), N times per binary, round-robin.
//! - Peak memory: one process per binary fed M events (OPTIONS alternating with a request refused
//!   before the store), then `VmHWM` from `/proc/<pid>/status`.
//!
//! `hello-lambda` (the smallest `lambda_http` function, built like ours) is the baseline.
//!
//! Usage: `cold-start [BIN_DIR (target/release)] [N (20)] [M (300)]`. Needs
//! `AWS_ENDPOINT_URL_DYNAMODB` (tools/bench.sh starts a local server); no event sent here reaches
//! the store, and every answer's status is checked to prove it. Prints Markdown on stdout.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// A function that has not answered an event by then is reported as broken, not waited for.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A test key of 48 characters (the functions refuse fewer than 32 bytes).
const SIGNING_KEY: &str = "cold-start-bench-key-not-secret-0123456789abcdef";
const _: () = assert!(SIGNING_KEY.len() == 48);

/// A well-formed HS256 token signed with another key (jwt.io's example): refusing it costs a
/// real decode and signature check, as a forged or stale token would, and never reaches the store.
macro_rules! foreign_jwt {
    () => {
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    };
}

/// One request of the memory burst besides OPTIONS, and the status proving it was refused
/// before any store call (a store call to a dead endpoint would answer 503/500, slowly).
struct Probe {
    method: &'static str,
    json_body: Option<&'static str>,
    bearer: Option<&'static str>,
    status: u16,
}

/// A binary under test and the route it owns.
struct Subject {
    binary: &'static str,
    path: &'static str,
    probe: Probe,
}

const HELLO: &str = "hello-lambda";

static SUBJECTS: [Subject; 7] = [
    Subject {
        binary: HELLO,
        path: "/",
        probe: Probe {
            method: "GET",
            json_body: None,
            bearer: None,
            status: 200,
        },
    },
    Subject {
        binary: "join",
        path: "/account/join/",
        // Every required field missing: 400 before the email-taken lookup.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: None,
            status: 400,
        },
    },
    Subject {
        binary: "login",
        path: "/account/login/",
        // A malformed email is refused before the user is looked up.
        probe: Probe {
            method: "POST",
            json_body: Some(r#"{"email":"x","password":"y"}"#),
            bearer: None,
            status: 400,
        },
    },
    Subject {
        binary: "logout",
        path: "/account/logout/",
        probe: Probe {
            method: "POST",
            json_body: Some(concat!(r#"{"refresh":""#, foreign_jwt!(), r#""}"#)),
            bearer: None,
            status: 401,
        },
    },
    Subject {
        binary: "refresh",
        path: "/account/token/refresh/",
        probe: Probe {
            method: "POST",
            json_body: Some(concat!(r#"{"refresh":""#, foreign_jwt!(), r#""}"#)),
            bearer: None,
            status: 401,
        },
    },
    Subject {
        binary: "password-change",
        path: "/account/password/change/",
        // Authentication comes first, so the body is never read.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
    Subject {
        binary: "mypage",
        path: "/account/mypage/",
        probe: Probe {
            method: "GET",
            json_body: None,
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
];

/// An invocation event and the status its answer must carry.
struct Invocation {
    event: Value,
    status: u16,
}

fn options_invocation(subject: &Subject) -> Invocation {
    Invocation {
        event: api_gateway_event("OPTIONS", subject.path, None, None),
        status: 200,
    }
}

fn probe_invocation(subject: &Subject) -> Invocation {
    let probe = &subject.probe;
    Invocation {
        event: api_gateway_event(probe.method, subject.path, probe.json_body, probe.bearer),
        status: probe.status,
    }
}

/// An API Gateway HTTP API (payload 2.0) event, as the deployed stage sends it.
fn api_gateway_event(method: &str, path: &str, json_body: Option<&str>, bearer: Option<&str>) -> Value {
    let mut headers = json!({
        "accept": "*/*",
        "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "user-agent": "cold-start-bench",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    });
    if let Some(body) = json_body {
        headers["content-type"] = json!("application/json");
        headers["content-length"] = json!(body.len().to_string());
    }
    if let Some(token) = bearer {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("ANY {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "cold-start-bench",
            },
            "requestId": "cold-start-bench",
            "routeKey": format!("ANY {path}"),
            "stage": "$default",
            "time": "26/Nov/2026:12:00:00 +0000",
            "timeEpoch": unix_millis(),
        },
        "isBase64Encoded": false,
    });
    if let Some(body) = json_body {
        event["body"] = json!(body);
    }
    event
}

fn unix_millis() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    since_epoch.as_millis() as u64
}

/// What the function told the runtime API.
enum Report {
    /// An answer arrived (timed when its request head was read) carrying this status.
    Answered { at: Instant, status: Option<u16> },
    /// An invocation or init error, with the function's own description.
    Failed(String),
}

/// The runtime API of one process: the events it will be handed, in order, and a channel for
/// what it reports back.
struct RuntimeApi {
    events: Mutex<VecDeque<Value>>,
    reports: mpsc::UnboundedSender<Report>,
    next_request_id: AtomicU64,
}

type ApiResponse = Response<Full<Bytes>>;

fn plain(status: StatusCode, body: &'static str) -> ApiResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

impl RuntimeApi {
    async fn handle(&self, request: Request<Incoming>) -> Result<ApiResponse, Infallible> {
        let arrived = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let response = match (&method, segments.as_slice()) {
            (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => self.next_event().await,
            (&Method::POST, ["2018-06-01", "runtime", "invocation", _id, "response"]) => {
                let body = read_body(request).await;
                let status = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|answer| answer["statusCode"].as_u64())
                    .and_then(|status| u16::try_from(status).ok());
                self.report(Report::Answered { at: arrived, status });
                plain(StatusCode::ACCEPTED, "")
            }
            (&Method::POST, ["2018-06-01", "runtime", "invocation", id, "error"]) => {
                let why = format!("invocation {id} failed: {}", read_body_text(request).await);
                self.report(Report::Failed(why));
                plain(StatusCode::ACCEPTED, "")
            }
            (&Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
                let why = format!("init failed: {}", read_body_text(request).await);
                self.report(Report::Failed(why));
                plain(StatusCode::ACCEPTED, "")
            }
            _ => {
                self.report(Report::Failed(format!("unexpected runtime API call: {method} {path}")));
                plain(StatusCode::NOT_FOUND, "")
            }
        };
        Ok(response)
    }

    /// Hands out the next event; with none left, never answers, as an idle runtime API does
    /// (the process is killed while it waits).
    async fn next_event(&self) -> ApiResponse {
        let event = self.events.lock().expect("event queue lock").pop_front();
        let Some(event) = event else {
            return std::future::pending().await;
        };
        let id = format!("bench-{}", self.next_request_id.fetch_add(1, Ordering::Relaxed));
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", (unix_millis() + 30_000).to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .expect("a well-formed runtime API answer")
    }

    fn report(&self, report: Report) {
        // The receiver goes away only once the run is over; a late report is of no interest.
        let _ = self.reports.send(report);
    }
}

async fn read_body(request: Request<Incoming>) -> Bytes {
    match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    }
}

async fn read_body_text(request: Request<Incoming>) -> String {
    String::from_utf8_lossy(&read_body(request).await).into_owned()
}

/// Serves the runtime API until aborted. Connections live in a `JoinSet` owned here, so aborting
/// the server also drops any `next` left waiting forever.
async fn serve(listener: TcpListener, api: Arc<RuntimeApi>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let api = Arc::clone(&api);
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let api = Arc::clone(&api);
                async move { api.handle(request).await }
            });
            // A connection ends in an error when the function is killed mid-request: expected.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections so a long burst does not accumulate them.
        while connections.try_join_next().is_some() {}
    }
}

/// One running function process and its runtime API.
struct Run {
    binary: &'static str,
    child: Child,
    reports: mpsc::UnboundedReceiver<Report>,
    /// The statuses the answers must carry, in the order the events were handed out (the
    /// runtime handles one event at a time, so answers come back in that order).
    expected: VecDeque<u16>,
    server: JoinHandle<()>,
    output: [JoinHandle<Vec<u8>>; 2],
}

/// The environment a function sees: exactly what Lambda would set, nothing inherited, so the
/// caller's `RUST_LOG`, AWS profile or the like cannot change what is measured.
fn command(binary: &Path, function_name: &str, runtime_api: &str, dynamodb: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
        .env("TABLE_NAME", "bench")
        .env("JWT_SIGNING_KEY", SIGNING_KEY)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Reads a pipe to its end, so the function never blocks on a full pipe; kept for error reports.
fn drain(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes).await;
        }
        bytes
    })
}

impl Run {
    /// Starts a runtime API holding `invocations`, then the binary; returns the run and the
    /// instant just before spawn.
    async fn start(
        dir: &Path,
        binary: &'static str,
        invocations: Vec<Invocation>,
        dynamodb: &str,
    ) -> Result<(Run, Instant), String> {
        // Port 0: the kernel picks a free port, and we hold it from the start (no race).
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| format!("cannot listen on 127.0.0.1: {error}"))?;
        let port = listener
            .local_addr()
            .map_err(|error| format!("no local address for the runtime API: {error}"))?
            .port();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let expected = invocations.iter().map(|invocation| invocation.status).collect();
        let api = Arc::new(RuntimeApi {
            events: Mutex::new(invocations.into_iter().map(|invocation| invocation.event).collect()),
            reports: reports_tx,
            next_request_id: AtomicU64::new(1),
        });
        let server = tokio::spawn(serve(listener, api));

        let path = dir.join(binary);
        let mut command = command(&path, binary, &format!("127.0.0.1:{port}"), dynamodb);
        let started = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                server.abort();
                return Err(format!("cannot start {}: {error}", path.display()));
            }
        };
        let output = [drain(child.stdout.take()), drain(child.stderr.take())];
        let run = Run {
            binary,
            child,
            reports,
            expected,
            server,
            output,
        };
        Ok((run, started))
    }

    /// Waits for the next answer; an error, a wrong status, an exit or 10 s of silence fail.
    async fn answer(&mut self) -> Result<Instant, String> {
        let expected = self
            .expected
            .pop_front()
            .expect("an answer is awaited only for an event handed out");
        tokio::select! {
            report = tokio::time::timeout(ANSWER_TIMEOUT, self.reports.recv()) => match report {
                Ok(Some(Report::Answered { at, status })) if status == Some(expected) => Ok(at),
                Ok(Some(Report::Answered { status, .. })) => Err(format!(
                    "answered status {status:?} where {expected} was expected (a store call or a changed route?)"
                )),
                Ok(Some(Report::Failed(why))) => Err(why),
                Ok(None) => Err("the runtime API stopped".to_owned()),
                Err(_) => Err(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs())),
            },
            status = self.child.wait() => Err(match status {
                Ok(status) => format!("exited ({status}) before answering"),
                Err(error) => format!("could not be waited for: {error}"),
            }),
        }
    }

    /// Peak resident memory so far, in KiB, from the kernel's high-water mark.
    fn peak_rss_kib(&self) -> Result<u64, String> {
        let pid = self.child.id().ok_or("the process is gone")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|error| format!("cannot read /proc/{pid}/status: {error}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
    }

    /// Kills the process and the runtime API; returns whatever the process printed.
    async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.server.abort();
        let mut printed = String::new();
        for pipe in self.output {
            if let Ok(bytes) = pipe.await {
                printed.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        printed
    }

    /// Stops the run and turns `why` into a report naming the binary, with its last output.
    async fn fail(self, why: String) -> String {
        let binary = self.binary;
        let printed = self.stop().await;
        let lines: Vec<&str> = printed.lines().collect();
        let tail = &lines[lines.len().saturating_sub(20)..];
        if tail.is_empty() {
            format!("{binary}: {why}")
        } else {
            format!("{binary}: {why}\n--- its last output ---\n{}", tail.join("\n"))
        }
    }
}

/// One cold start: spawn to the answer of the first event, in milliseconds.
async fn cold_start(dir: &Path, subject: &'static Subject, dynamodb: &str) -> Result<f64, String> {
    let (mut run, started) = Run::start(dir, subject.binary, vec![options_invocation(subject)], dynamodb).await?;
    match run.answer().await {
        Ok(answered) => {
            run.stop().await;
            Ok(answered.duration_since(started).as_secs_f64() * 1000.0)
        }
        Err(why) => Err(run.fail(why).await),
    }
}

/// One process fed `events` events, OPTIONS alternating with the subject's probe; peak RSS in KiB.
async fn peak_memory(dir: &Path, subject: &'static Subject, events: usize, dynamodb: &str) -> Result<u64, String> {
    let invocations = (0..events)
        .map(|i| {
            if i % 2 == 0 {
                options_invocation(subject)
            } else {
                probe_invocation(subject)
            }
        })
        .collect();
    let (mut run, _) = Run::start(dir, subject.binary, invocations, dynamodb).await?;
    for _ in 0..events {
        if let Err(why) = run.answer().await {
            return Err(run.fail(why).await);
        }
    }
    match run.peak_rss_kib() {
        Ok(kib) => {
            run.stop().await;
            Ok(kib)
        }
        Err(why) => Err(run.fail(why).await),
    }
}

/// The `p`-quantile (0..=1) of sorted samples, interpolating between neighbours.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

struct Args {
    dir: PathBuf,
    runs: usize,
    events: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/release".to_owned()));
    let count = |value: Option<String>, default: usize, what: &str| match value {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{what} must be a positive whole number, not {text:?}")),
        },
    };
    let runs = count(args.next(), 20, "N (cold starts per binary)")?;
    let events = count(args.next(), 300, "M (events in the memory burst)")?;
    if args.next().is_some() {
        return Err("too many arguments".to_owned());
    }
    Ok(Args { dir, runs, events })
}

async fn bench() -> Result<(), String> {
    let usage = "usage: cold-start [BIN_DIR (target/release)] [N (20)] [M (300)]";
    let args = parse_args().map_err(|why| format!("{why}\n{usage}"))?;
    let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").map_err(|_| {
        "AWS_ENDPOINT_URL_DYNAMODB is not set: tools/bench.sh starts a local DynamoDB and sets it \
         (no event sent here reaches the store, so any local URL will do)"
            .to_owned()
    })?;
    let missing: Vec<&str> = SUBJECTS
        .iter()
        .map(|subject| subject.binary)
        .filter(|binary| !args.dir.join(binary).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing in {}: {} (cargo build --release -p bench --bin hello-lambda; \
             cargo build --release --bins -p join -p login -p logout -p refresh -p password-change -p mypage)",
            args.dir.display(),
            missing.join(", ")
        ));
    }

    // Memory first: one start per binary checks that all of them answer before the long part,
    // and loads every binary into the page cache, so no timed start below pays for disk reads.
    let mut peaks = Vec::new();
    for subject in &SUBJECTS {
        eprintln!("memory: {} ({} events)", subject.binary, args.events);
        peaks.push(peak_memory(&args.dir, subject, args.events, &dynamodb).await?);
    }

    // Round-robin, each round starting one binary further on, so machine noise (and any effect
    // of the binary started just before) spreads evenly over the binaries.
    let mut samples = vec![Vec::with_capacity(args.runs); SUBJECTS.len()];
    for round in 0..args.runs {
        eprintln!("cold starts: round {}/{}", round + 1, args.runs);
        for offset in 0..SUBJECTS.len() {
            let index = (round + offset) % SUBJECTS.len();
            samples[index].push(cold_start(&args.dir, &SUBJECTS[index], &dynamodb).await?);
        }
    }
    for runs in &mut samples {
        runs.sort_by(f64::total_cmp);
    }

    let hello = SUBJECTS
        .iter()
        .position(|subject| subject.binary == HELLO)
        .expect("hello-lambda is a subject");
    let hello_median = quantile(&samples[hello], 0.5);
    println!("| binary | cold start median ms | p10 | p90 | ×hello | peak RSS MiB |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for ((subject, runs), peak) in SUBJECTS.iter().zip(&samples).zip(&peaks) {
        let median = quantile(runs, 0.5);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
            subject.binary,
            median,
            quantile(runs, 0.1),
            quantile(runs, 0.9),
            median / hello_median,
            *peak as f64 / 1024.0,
        );
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "N = {} cold starts per binary (round-robin), M = {} events per memory burst; \
         machine: nproc {cpus}, {}.",
        args.runs,
        args.events,
        cpu_model()
    );
    Ok(())
}

// One thread is enough to serve a runtime API and time it, and leaves the other cores to the
// function being measured.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match bench().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cold-start: {why}");
            ExitCode::FAILURE
        }
    }
}
