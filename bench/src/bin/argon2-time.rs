//! Argon2 alone, as the functions hash and verify: the measure of what a release profile does
//! to the one piece of work that needs speed. `tools/bench-profiles.sh` builds it under each
//! profile it compares. Usage: `argon2-time [RUNS (40)]`; prints `hash_ms verify_ms` medians.

use std::time::Instant;

use secrecy::SecretString;

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let runs = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(40usize)
        .max(1);
    let password = SecretString::from("Tutorial-Pw!7319".to_owned());
    let (mut hashes, mut verifies) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let phc = shared::auth::password::hash_password(&password).expect("hashing a fixed password");
        hashes.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        assert!(shared::auth::password::verify_password(&password, &phc));
        verifies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!("{:.2} {:.2}", median_ms(hashes), median_ms(verifies));
}
