//! A Lambda Runtime API of our own, serving one function process: it hands out invocation
//! events and receives the answers, so the bench drives the real binaries as Lambda does,
//! without an emulator's overhead in the numbers. Used by `cold-start` and `cpu-per-request`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// A function that has not answered an event by then is reported as broken, not waited for.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Under a `BENCH_WRAPPER` such as valgrind a function runs some fifty times slower.
const WRAPPED_ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// A test key of 48 characters (the functions refuse fewer than 32 bytes).
pub const SIGNING_KEY: &str = "cold-start-bench-key-not-secret-0123456789abcdef";
const _: () = assert!(SIGNING_KEY.len() == 48);

/// An invocation event and the status its answer must carry.
pub struct Invocation {
    pub event: Value,
    pub status: u16,
}

/// An API Gateway REST API (payload 1.0) proxy event, as the deployed stage (`api`) sends it
/// (`shared::testing` builds it, as for the handler tests).
pub fn api_gateway_event(method: &str, path: &str, json_body: Option<&str>, bearer: Option<&str>) -> Value {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("accept", "*/*"), ("user-agent", "runtime-loop-bench")];
    if json_body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization));
    }
    shared::testing::rest_event_json(method, path, &headers, json_body)
}

pub fn unix_millis() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    since_epoch.as_millis() as u64
}

/// What the function told the runtime API.
enum Report {
    /// An answer arrived (timed when its request head was read) carrying this status, and
    /// the answer itself (the API Gateway response the function posted).
    Answered {
        at: Instant,
        status: Option<u16>,
        answer: Value,
    },
    /// An invocation or init error, with the function's own description.
    Failed(String),
}

/// The runtime API of one process: the events it will be handed, in order, and a channel for
/// what it reports back.
struct RuntimeApi {
    /// Events to hand out; a run can keep feeding it (an answer decides the next event).
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
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
                let answer = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
                let status = answer["statusCode"]
                    .as_u64()
                    .and_then(|status| u16::try_from(status).ok());
                self.report(Report::Answered {
                    at: arrived,
                    status,
                    answer,
                });
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

    /// Hands out the next event, waiting for one to be queued; once the run has dropped its
    /// sender, never answers, as an idle runtime API does (the process is killed while it waits).
    async fn next_event(&self) -> ApiResponse {
        let event = self.events.lock().await.recv().await;
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

/// An answer the function posted: when its head arrived, and the API Gateway response.
pub struct Answered {
    pub at: Instant,
    pub answer: Value,
}

/// One running function process and its runtime API.
pub struct Run {
    binary: &'static str,
    child: Child,
    events: mpsc::UnboundedSender<Value>,
    reports: mpsc::UnboundedReceiver<Report>,
    /// The statuses the answers must carry, in the order the events were handed out (the
    /// runtime handles one event at a time, so answers come back in that order).
    expected: VecDeque<u16>,
    server: JoinHandle<()>,
    output: [JoinHandle<Vec<u8>>; 2],
}

fn answer_timeout() -> Duration {
    match std::env::var_os("BENCH_WRAPPER") {
        Some(_) => WRAPPED_ANSWER_TIMEOUT,
        None => ANSWER_TIMEOUT,
    }
}

/// Where a function runs: its store and table, and its logging (the template deploys INFO in
/// Lambda's JSON format, which Lambda announces with `AWS_LAMBDA_LOG_FORMAT`).
pub struct Place<'a> {
    pub dynamodb: &'a str,
    pub table: &'a str,
    pub log_level: &'a str,
    pub json_logs: bool,
    /// More variables, for a function that needs them (the social providers' settings).
    pub extra_env: &'a [(&'a str, &'a str)],
}

/// The environment a function sees: exactly what Lambda would set, nothing inherited, so the
/// caller's `RUST_LOG`, AWS profile or the like cannot change what is measured.
fn command(binary: &Path, function_name: &str, runtime_api: &str, place: &Place<'_>) -> Command {
    // `BENCH_WRAPPER="valgrind --tool=callgrind"` runs each function under a tool, to count
    // instructions: repeatable whatever else the machine is doing.
    let wrapper = std::env::var("BENCH_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", place.dynamodb)
        .env("TABLE_NAME", place.table)
        .env("JWT_SIGNING_KEY", SIGNING_KEY)
        // The mailing functions build their SES client at cold start, as deployed.
        .env("EMAIL_BACKEND", "ses")
        .env("EMAIL_FROM", "no-reply@example.com")
        .env("AWS_ENDPOINT_URL_SESV2", place.dynamodb)
        .env("RUST_LOG", place.log_level)
        .env("AWS_LAMBDA_LOG_FORMAT", if place.json_logs { "JSON" } else { "Text" })
        .envs(place.extra_env.iter().copied())
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
    pub async fn start(
        dir: &Path,
        binary: &'static str,
        invocations: Vec<Invocation>,
        place: &Place<'_>,
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
        let (events, queued) = mpsc::unbounded_channel();
        let expected = invocations.iter().map(|invocation| invocation.status).collect();
        for invocation in invocations {
            // The receiver is alive: it is moved into the API just below.
            let _ = events.send(invocation.event);
        }
        let api = Arc::new(RuntimeApi {
            events: tokio::sync::Mutex::new(queued),
            reports: reports_tx,
            next_request_id: AtomicU64::new(1),
        });
        let server = tokio::spawn(serve(listener, api));

        let path = dir.join(binary);
        let mut command = command(&path, binary, &format!("127.0.0.1:{port}"), place);
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
            events,
            reports,
            expected,
            server,
            output,
        };
        Ok((run, started))
    }

    /// Queues one more event for the process.
    pub fn send(&mut self, invocation: Invocation) -> Result<(), String> {
        self.expected.push_back(invocation.status);
        self.events
            .send(invocation.event)
            .map_err(|_| "the runtime API stopped".to_owned())
    }

    /// Waits for the next answer; an error, a wrong status, an exit or 10 s of silence fail.
    pub async fn answer(&mut self) -> Result<Answered, String> {
        let expected = self
            .expected
            .pop_front()
            .expect("an answer is awaited only for an event handed out");
        tokio::select! {
            report = tokio::time::timeout(answer_timeout(), self.reports.recv()) => match report {
                Ok(Some(Report::Answered { at, status, answer })) if status == Some(expected) => {
                    Ok(Answered { at, answer })
                }
                Ok(Some(Report::Answered { status, .. })) => Err(format!(
                    "answered status {status:?} where {expected} was expected (a store call or a changed route?)"
                )),
                Ok(Some(Report::Failed(why))) => Err(why),
                Ok(None) => Err("the runtime API stopped".to_owned()),
                Err(_) => Err(format!("no answer within {} s", answer_timeout().as_secs())),
            },
            status = self.child.wait() => Err(match status {
                Ok(status) => format!("exited ({status}) before answering"),
                Err(error) => format!("could not be waited for: {error}"),
            }),
        }
    }

    /// Peak resident memory so far, in KiB, from the kernel's high-water mark.
    pub fn peak_rss_kib(&self) -> Result<u64, String> {
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
    /// User plus system CPU time the process has used so far, from the kernel, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        let pid = self.child.id().ok_or("the process is gone")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|error| format!("cannot read /proc/{pid}/stat: {error}"))?;
        // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
        let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
            return Err(format!("no utime/stime in /proc/{pid}/stat"));
        };
        // SAFETY: sysconf reads a constant of the running kernel.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Ok((user + system) as f64 / per_second.max(1) as f64)
    }

    pub async fn stop(mut self) -> String {
        // A wrapping tool writes its results as the process ends: ask it to end (TERM) first.
        if std::env::var_os("BENCH_WRAPPER").is_some()
            && let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok())
        {
            // SAFETY: kill sends a signal to our own child, whose pid we hold.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let _ = tokio::time::timeout(WRAPPED_ANSWER_TIMEOUT, self.child.wait()).await;
        }
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
    pub async fn fail(self, why: String) -> String {
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
