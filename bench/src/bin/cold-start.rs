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

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench::runtime_api::{Invocation, Place, Run, api_gateway_event};

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

/// No event sent here reaches the store: any table will do. Logs at WARN, as before.
fn place(dynamodb: &str) -> Place<'_> {
    Place {
        dynamodb,
        table: "bench",
        log_level: "warn",
        json_logs: false,
        extra_env: &[],
    }
}

static SUBJECTS: [Subject; 21] = [
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
        binary: "token-verify",
        path: "/account/token/verify/",
        probe: Probe {
            method: "POST",
            json_body: Some(concat!(r#"{"token":""#, foreign_jwt!(), r#""}"#)),
            bearer: None,
            status: 401,
        },
    },
    Subject {
        binary: "user",
        path: "/account/user/",
        probe: Probe {
            method: "GET",
            json_body: None,
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
    Subject {
        binary: "sessions",
        path: "/account/sessions/",
        probe: Probe {
            method: "GET",
            json_body: None,
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
    Subject {
        binary: "social-login",
        path: "/account/social/google/",
        // No provider configured here: the contract's 404, before any provider or store call.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: None,
            status: 404,
        },
    },
    Subject {
        binary: "social-connect",
        path: "/account/social/google/connect/",
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
    Subject {
        binary: "social-accounts",
        path: "/account/socialaccounts/",
        probe: Probe {
            method: "GET",
            json_body: None,
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
    Subject {
        binary: "social-account-disconnect",
        path: "/account/socialaccounts/1/disconnect/",
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
    Subject {
        binary: "well-known",
        path: "/account/.well-known/jwks.json",
        // The bench signs HS256: no public key, the contract's 404 (the keys are still loaded).
        probe: Probe {
            method: "GET",
            json_body: None,
            bearer: None,
            status: 404,
        },
    },
    Subject {
        binary: "sessions-revoke-others",
        path: "/account/sessions/revoke-others/",
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
    Subject {
        binary: "password-reset",
        path: "/account/password/reset/",
        // Every required field missing: 400 before any lookup.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: None,
            status: 400,
        },
    },
    Subject {
        binary: "password-reset-confirm",
        path: "/account/password/reset/confirm/",
        // Every required field missing: 400 before any lookup.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: None,
            status: 400,
        },
    },
    Subject {
        binary: "verify-email",
        path: "/account/join/verify-email/",
        // Every required field missing: 400 before any lookup.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: None,
            status: 400,
        },
    },
    Subject {
        binary: "resend-email",
        path: "/account/join/resend-email/",
        // Every required field missing: 400 before any lookup.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: None,
            status: 400,
        },
    },
    Subject {
        binary: "user-delete",
        path: "/account/user/delete/",
        // Authentication comes first, so the body (and Argon2) is never reached.
        probe: Probe {
            method: "POST",
            json_body: Some("{}"),
            bearer: Some(foreign_jwt!()),
            status: 401,
        },
    },
];

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

/// One cold start: spawn to the answer of the first event, in milliseconds.
async fn cold_start(dir: &Path, subject: &'static Subject, dynamodb: &str) -> Result<f64, String> {
    let invocations = vec![options_invocation(subject)];
    let (mut run, started) = Run::start(dir, subject.binary, invocations, &place(dynamodb)).await?;
    match run.answer().await {
        Ok(answered) => {
            run.stop().await;
            Ok(answered.at.duration_since(started).as_secs_f64() * 1000.0)
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
    let (mut run, _) = Run::start(dir, subject.binary, invocations, &place(dynamodb)).await?;
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
             cargo build --release --bins -p join -p login -p logout -p refresh -p password-change -p mypage -p token-verify -p user -p user-delete -p sessions -p sessions-revoke-others -p password-reset -p password-reset-confirm -p verify-email -p resend-email -p well-known -p social-login -p social-connect -p social-accounts -p social-account-disconnect)",
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
