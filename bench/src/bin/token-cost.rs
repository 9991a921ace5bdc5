//! What a token costs in each mode, in process: signing and verifying an access token with
//! HS256 and with ES256 (CPU per operation, the median of rounds), the size of access and
//! refresh tokens, and the cost of reading the keys again while warm (from key files: the PEM
//! parsed and the P-256 key checked; a Secrets Manager read adds its two GetSecretValue calls
//! in parallel, which only AWS can measure). Prints Markdown. Usage: `token-cost [ITERATIONS]`.

use std::time::Duration;

use shared::config::Config;
use shared::ids::random_id;
use shared::tokens::keys::JwtAlgorithm;
use shared::tokens::source::{KeyRefresh, KeySource};
use shared::tokens::{TokenKeys, TokenKind};

const ROUNDS: usize = 7;
const ISSUER: &str = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/api/account";

fn process_cpu() -> Duration {
    let mut spec = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut spec) };
    Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32)
}

/// Microseconds of CPU per call of `work`, the median of `ROUNDS` rounds of `iterations`.
fn per_call_us(iterations: usize, mut work: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = process_cpu();
            for _ in 0..iterations {
                work();
            }
            (process_cpu() - start).as_secs_f64() * 1e6 / iterations as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn keys_for(algorithm: JwtAlgorithm, key: &str) -> TokenKeys {
    let config = Config::from_lookup(|name| match name {
        "JWT_ALGORITHM" => Some(algorithm.name().to_owned()),
        "JWT_SIGNING_KEY" => Some(key.to_owned()),
        "JWT_ISSUER" => Some(ISSUER.to_owned()),
        _ => None,
    })
    .expect("a valid configuration");
    config.token_keys()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let modes = [
        (
            JwtAlgorithm::Hs256,
            shared::tokens::keys::new_signing_key(JwtAlgorithm::Hs256).expect("key"),
        ),
        (
            JwtAlgorithm::Es256,
            shared::tokens::keys::new_signing_key(JwtAlgorithm::Es256).expect("key"),
        ),
    ];
    println!(
        "| mode | sign an access token (µs CPU) | verify it (µs CPU) | access token (bytes) | refresh token (bytes) | key re-read from files (µs CPU) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (algorithm, key) in &modes {
        let keys = keys_for(*algorithm, key);
        let sid = random_id();
        let now = shared::now_unix();
        let sign = per_call_us(iterations, || {
            std::hint::black_box(
                keys.issue(TokenKind::Access, 42, &sid, random_id(), now)
                    .expect("signed"),
            );
        });
        let access = keys
            .issue(TokenKind::Access, 42, &sid, random_id(), now)
            .expect("signed");
        let refresh = keys
            .issue(TokenKind::Refresh, 42, &sid, random_id(), now)
            .expect("signed");
        let verify = per_call_us(iterations, || {
            std::hint::black_box(keys.verify(&access.token, TokenKind::Access).expect("valid"));
        });
        // A re-read that finds the same two keys (the usual case every interval), from files.
        let dir = std::env::temp_dir().join(format!("token-cost-{}", random_id()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let (current, previous) = (dir.join("current"), dir.join("previous"));
        std::fs::write(&current, key).expect("key file");
        std::fs::write(
            &previous,
            shared::tokens::keys::new_signing_key(*algorithm).expect("key"),
        )
        .expect("key file");
        let refresh_keys = KeyRefresh::new(
            KeySource::Files {
                current,
                previous: Some(previous),
            },
            *algorithm,
            0,
            0,
        );
        let mut samples = Vec::new();
        for _ in 0..ROUNDS {
            let start = process_cpu();
            for _ in 0..iterations / 10 {
                refresh_keys.refresh_if_due(&keys, 0).await;
            }
            samples.push((process_cpu() - start).as_secs_f64() * 1e6 / (iterations / 10) as f64);
        }
        samples.sort_by(f64::total_cmp);
        std::fs::remove_dir_all(&dir).expect("folder removed");
        println!(
            "| {} | {sign:.1} | {verify:.1} | {} | {} | {:.1} |",
            algorithm.name(),
            access.token.len(),
            refresh.token.len(),
            samples[ROUNDS / 2]
        );
    }
}
