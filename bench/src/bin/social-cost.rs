//! What a social login costs (`make bench-social`): the social-login binary run as Lambda runs
//! it (our Runtime API), against the local OpenID provider (tools/oidc) and the local DynamoDB,
//! beside the login binary doing a password login. For each: the first answer after spawn (init
//! and the first request: new connections, and for social login the provider's discovery
//! document and keys), then warm sign-ins; and the round trips each made, to the provider and to
//! DynamoDB, counted from their own request logs.
//!
//! Usage: `social-cost BIN_DIR RUNS WARM` with `AWS_ENDPOINT_URL_DYNAMODB`, `TABLE_NAME` (an
//! existing table), `SOCIAL_PROVIDER_URL`, `SOCIAL_PROVIDER_LOG` and `DYNAMODB_LOG` (the two
//! servers' logs, one line per request) set by tools/bench-social.sh. Prints Markdown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bench::runtime_api::{Invocation, Place, Run, api_gateway_event};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "Tutorial-Pw!7319";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

struct Setting {
    dynamodb: String,
    table: String,
    provider: String,
    provider_log: PathBuf,
    dynamodb_log: PathBuf,
    providers_json: String,
    secrets_file: String,
}

fn setting() -> Result<Setting, String> {
    let var =
        |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set (tools/bench-social.sh sets it)"));
    let provider = var("SOCIAL_PROVIDER_URL")?;
    Ok(Setting {
        providers_json: json!({
            "google": {"client_id": "local-google-client", "issuer": format!("{provider}/google"), "tokeninfo_endpoint": format!("{provider}/google-api/tokeninfo")},
            "kakao": {"client_id": "local-kakao-client", "app_id": 424242, "issuer": format!("{provider}/kakao"), "api_base": format!("{provider}/kakao-api")},
        })
        .to_string(),
        dynamodb: var("AWS_ENDPOINT_URL_DYNAMODB")?,
        table: var("TABLE_NAME")?,
        provider_log: var("SOCIAL_PROVIDER_LOG")?.into(),
        dynamodb_log: var("DYNAMODB_LOG")?.into(),
        secrets_file: var("SOCIAL_CLIENT_SECRETS_FILE")?,
        provider,
    })
}

/// Lines in a log so far: each server writes one per request.
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// A POST of JSON to the local provider's control routes, over a plain HTTP/1.1 connection.
async fn control(base: &str, route: &str, body: Value) -> Result<Value, String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or("the provider URL is http://HOST:PORT")?;
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|error| format!("the provider: {error}"))?;
    let body = body.to_string();
    let request = format!(
        "POST /control/{route} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|error| error.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("control/{route}: {head}"));
    }
    // The server sends a Content-Length body (no chunking) for its JSON answers.
    serde_json::from_str(body).map_err(|error| format!("control/{route}: {error}"))
}

/// A code for `login` at `provider`, and the body that redeems it.
async fn code_body(setting: &Setting, provider: &str, login: &str) -> Result<String, String> {
    let flow = control(
        &setting.provider,
        "flow",
        json!({"provider": provider, "login": login, "nonce": "bench-nonce"}),
    )
    .await?;
    Ok(json!({"code": flow["code"], "redirect_uri": REDIRECT_URI, "nonce": "bench-nonce"}).to_string())
}

/// One timed request: milliseconds, and the provider's and DynamoDB's requests meanwhile.
struct Sample {
    ms: f64,
    provider_calls: usize,
    dynamodb_calls: usize,
}

async fn timed(run: &mut Run, setting: &Setting, invocation: Invocation, since: Instant) -> Result<Sample, String> {
    let (provider, dynamodb) = (lines(&setting.provider_log), lines(&setting.dynamodb_log));
    run.send(invocation)?;
    let answered = run.answer().await?;
    // The servers write their line as they answer; the function answered after both.
    Ok(Sample {
        ms: answered.at.duration_since(since).as_secs_f64() * 1000.0,
        provider_calls: lines(&setting.provider_log) - provider,
        dynamodb_calls: lines(&setting.dynamodb_log) - dynamodb,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Case {
    name: &'static str,
    binary: &'static str,
    path: &'static str,
    /// `None`: a password login of the bench account.
    provider: Option<&'static str>,
}

const CASES: [Case; 3] = [
    Case {
        name: "password login (login)",
        binary: "login",
        path: "/account/login/",
        provider: None,
    },
    Case {
        name: "Google code, returning user (social-login)",
        binary: "social-login",
        path: "/account/social/google/",
        provider: Some("google"),
    },
    Case {
        name: "Kakao code, returning user (social-login)",
        binary: "social-login",
        path: "/account/social/kakao/",
        provider: Some("kakao"),
    },
];

async fn body_for(setting: &Setting, case: &Case, email: &str) -> Result<String, String> {
    match case.provider {
        Some(provider) => code_body(setting, provider, email).await,
        None => Ok(json!({"email": email, "password": PASSWORD}).to_string()),
    }
}

async fn measure(dir: &Path, setting: &Setting, case: &Case, runs: usize, warm: usize) -> Result<String, String> {
    let place = Place {
        dynamodb: &setting.dynamodb,
        table: &setting.table,
        log_level: "warn",
        json_logs: false,
        extra_env: &[
            ("SOCIAL_PROVIDERS", &setting.providers_json),
            ("SOCIAL_CLIENT_SECRETS_FILE", &setting.secrets_file),
        ],
    };
    let email = format!("social-bench-{}@example.com", bench_suffix());
    // The account exists before anything is timed: every sign-in below is a returning user's.
    if case.provider.is_none() {
        let (mut run, _) = Run::start(dir, "join", Vec::new(), &place).await?;
        let body = json!({"email": email, "password1": PASSWORD, "password2": PASSWORD}).to_string();
        run.send(Invocation {
            event: api_gateway_event("POST", "/account/join/", Some(&body), None),
            status: 201,
        })?;
        run.answer().await?;
        run.stop().await;
    }
    let event = |body: &str| Invocation {
        event: api_gateway_event("POST", case.path, Some(body), None),
        status: 200,
    };
    if case.provider.is_some() {
        let (mut run, _) = Run::start(dir, case.binary, Vec::new(), &place).await?;
        let body = body_for(setting, case, &email).await?;
        timed(&mut run, setting, event(&body), Instant::now()).await?;
        run.stop().await;
    }
    let (mut cold, mut warm_samples) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let body = body_for(setting, case, &email).await?;
        let (mut run, started) = Run::start(dir, case.binary, Vec::new(), &place).await?;
        cold.push(timed(&mut run, setting, event(&body), started).await?);
        for _ in 0..warm / runs.max(1) {
            let body = body_for(setting, case, &email).await?;
            warm_samples.push(timed(&mut run, setting, event(&body), Instant::now()).await?);
        }
        run.stop().await;
    }
    let calls = |samples: &[Sample]| {
        let first = samples
            .first()
            .map_or((0, 0), |sample| (sample.provider_calls, sample.dynamodb_calls));
        let same = samples
            .iter()
            .all(|sample| (sample.provider_calls, sample.dynamodb_calls) == first);
        format!("{} / {}{}", first.0, first.1, if same { "" } else { " (varies)" })
    };
    Ok(format!(
        "| {} | {:.1} | {} | {:.1} | {} |",
        case.name,
        median(cold.iter().map(|sample| sample.ms).collect()),
        calls(&cold),
        median(warm_samples.iter().map(|sample| sample.ms).collect()),
        calls(&warm_samples),
    ))
}

fn bench_suffix() -> String {
    format!("{}-{}", std::process::id(), bench::runtime_api::unix_millis())
}

async fn bench() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/release".to_owned()));
    let runs: usize = args
        .next()
        .map_or(Ok(10), |n| n.parse())
        .map_err(|_| "RUNS is a number")?;
    let warm: usize = args
        .next()
        .map_or(Ok(50), |n| n.parse())
        .map_err(|_| "WARM is a number")?;
    let setting = setting()?;
    println!(
        "| sign-in | first answer after spawn, median ms | its provider / DynamoDB requests | warm, median ms | provider / DynamoDB requests each |"
    );
    println!("| --- | ---: | --- | ---: | --- |");
    for case in &CASES {
        eprintln!("social-cost: {}", case.name);
        println!("{}", measure(&dir, &setting, case, runs, warm).await?);
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match bench().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("social-cost: {why}");
            ExitCode::FAILURE
        }
    }
}
