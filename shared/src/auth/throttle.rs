//! The password-guess throttle, per email: login and the old password of a password change
//! count against the same record.
//!
//! Every password check is *reserved* before Argon2 runs: one conditional write counts it as a
//! wrong guess, and refuses when the email is locked. So however many guesses arrive at once,
//! no more are checked than the rules allow; a right password then forgets the record. The
//! rules (`LoginThrottle::decide`) are a pure function of the record and the clock; the store
//! only ever replaces a record by compare-and-swap on its version, so racing writers are
//! serialised, a late write cannot erase a lock, and every record carries its TTL.

use crate::config::LoginThrottle;
use crate::http::ApiError;
use crate::ids::random_id;
use crate::store::{LoginThrottleStore, ThrottleRecord};

/// How many times a reservation re-reads and retries after losing a race. Each loss means
/// another guess was reserved, and a lock is reached after `failures` of them, so this many is
/// only ever used up by a flood; the request is then refused as throttled.
const MAX_RESERVATION_ATTEMPTS: usize = 10;

/// What the rules say about one more password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Locked: refused for this many more seconds.
    Refuse(i64),
    /// Allowed: write this record (the check counted as a wrong guess until proven right).
    Reserve(ThrottleRecord),
}

impl LoginThrottle {
    /// The rules. A record past its `expires_at` is forgotten (TTL deletes late). The guess that
    /// reaches `failures` locks at once, before it is checked, so racing guesses find the lock.
    /// A lockout keeps the record `window` past its end, so the doubling is what a patient
    /// attacker meets: waiting for the count to be forgotten costs more than the doubling.
    pub fn decide(&self, record: &ThrottleRecord, now: i64, reservation: &str) -> Decision {
        let remembered = record.expires_at > now;
        let (failures, locked_until) = match remembered {
            true => (record.failures, record.locked_until),
            false => (0, 0),
        };
        if locked_until > now {
            return Decision::Refuse(locked_until - now);
        }
        let failures = failures.saturating_add(1);
        let locked_until = self.lockout_after(failures).map_or(0, |lockout| now + lockout);
        Decision::Reserve(ThrottleRecord {
            failures,
            locked_until,
            expires_at: now.max(locked_until) + self.window,
            version: record.version + 1,
            written_by: reservation.to_owned(),
        })
    }
}

/// Reserves one password check for `email`, or refuses it with 429. `seen` is the record as
/// the caller already read it (login reads it alongside the user); a lost race re-decides on
/// the record the failed write returned, without another read.
pub async fn reserve_password_check<S: LoginThrottleStore>(
    store: &S,
    throttle: LoginThrottle,
    email: &str,
    now: i64,
    seen: ThrottleRecord,
) -> Result<(), ApiError> {
    if !throttle.enabled() {
        return Ok(());
    }
    let reservation = random_id();
    let mut seen = seen;
    for _ in 0..MAX_RESERVATION_ATTEMPTS {
        let next = match throttle.decide(&seen, now, &reservation) {
            Decision::Refuse(seconds) => return Err(ApiError::Throttled(seconds)),
            Decision::Reserve(next) => next,
        };
        match store.replace_throttle_record(email, seen.version, &next).await? {
            Ok(()) => return Ok(()),
            // The SDK retried our own write after its answer was lost: it landed.
            Err(current) if current.written_by == reservation => return Ok(()),
            Err(current) => seen = current,
        }
    }
    tracing::warn!("password checks for one email raced past the reservation attempts");
    Err(ApiError::Throttled(1))
}

/// Reads the record, then reserves (password change, which has no read to share it with).
pub async fn read_and_reserve_password_check<S: LoginThrottleStore>(
    store: &S,
    throttle: LoginThrottle,
    email: &str,
    now: i64,
) -> Result<(), ApiError> {
    if !throttle.enabled() {
        return Ok(());
    }
    let seen = store.throttle_record(email).await?;
    reserve_password_check(store, throttle, email, now, seen).await
}

/// After a right password: the email's wrong guesses are forgotten.
pub async fn forget_failures<S: LoginThrottleStore>(
    store: &S,
    throttle: LoginThrottle,
    email: &str,
) -> Result<(), ApiError> {
    if throttle.enabled() {
        store.clear_throttle_record(email).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn defaults() -> LoginThrottle {
        LoginThrottle {
            failures: 5,
            window: DAY,
            lockout: 60,
            max_lockout: 3600,
        }
    }

    /// An attacker who guesses at every moment the rules allow, for `horizon` seconds from 0,
    /// never right: the times of the guesses that get checked.
    fn greedy_attack(throttle: LoginThrottle, horizon: i64) -> Vec<i64> {
        let mut record = ThrottleRecord::default();
        let mut checked = Vec::new();
        let mut now = 0;
        while now < horizon {
            match throttle.decide(&record, now, "attacker") {
                Decision::Reserve(next) => {
                    checked.push(now);
                    record = next;
                }
                Decision::Refuse(seconds) => now += seconds,
            }
        }
        checked
    }

    #[test]
    fn five_guesses_then_lockouts_that_double_to_an_hour() {
        let guesses = greedy_attack(defaults(), DAY);
        assert_eq!(guesses[..12], [0, 0, 0, 0, 0, 60, 180, 420, 900, 1860, 3780, 7380]);
        assert!(guesses.windows(2).skip(11).all(|pair| pair[1] - pair[0] == 3600));
    }

    #[test]
    fn the_worst_case_with_the_defaults_is_33_guesses_on_the_first_day_then_24_a_day() {
        // The README's figures: keep them in step with this test.
        assert_eq!(greedy_attack(defaults(), DAY).len(), 33);
        assert_eq!(greedy_attack(defaults(), 2 * DAY).len(), 33 + 24);
        assert_eq!(greedy_attack(defaults(), 30 * DAY).len(), 33 + 29 * 24);
    }

    #[test]
    fn waiting_for_the_count_to_be_forgotten_pays_less_than_the_doubling() {
        // Five guesses, then silence until the record is forgotten, again and again.
        let throttle = defaults();
        let mut record = ThrottleRecord::default();
        let (mut now, mut checked) = (0, 0);
        while now < 30 * DAY {
            match throttle.decide(&record, now, "patient") {
                Decision::Reserve(next) => {
                    checked += 1;
                    record = next;
                }
                Decision::Refuse(_) => now = record.expires_at,
            }
        }
        assert!(checked < greedy_attack(throttle, 30 * DAY).len(), "{checked}");
    }

    #[test]
    fn a_forgotten_record_starts_again_and_versions_always_advance() {
        let throttle = defaults();
        let old = ThrottleRecord {
            failures: 9,
            locked_until: 100,
            expires_at: 1000,
            version: 7,
            written_by: "x".into(),
        };
        let Decision::Reserve(next) = throttle.decide(&old, 1000, "r") else {
            panic!("a forgotten lock refuses nothing");
        };
        assert_eq!(
            next,
            ThrottleRecord {
                failures: 1,
                locked_until: 0,
                expires_at: 1000 + DAY,
                version: 8,
                written_by: "r".into()
            }
        );
        assert_eq!(throttle.decide(&old, 50, "r"), Decision::Refuse(50));
    }

    #[test]
    fn the_guess_that_reaches_the_limit_locks_before_it_is_checked() {
        let throttle = defaults();
        let four = ThrottleRecord {
            failures: 4,
            expires_at: 10 + DAY,
            version: 4,
            ..ThrottleRecord::default()
        };
        let Decision::Reserve(fifth) = throttle.decide(&four, 10, "r") else {
            panic!("the fifth guess is checked");
        };
        assert_eq!(
            (fifth.failures, fifth.locked_until, fifth.expires_at),
            (5, 70, 70 + DAY)
        );
        assert_eq!(throttle.decide(&fifth, 10, "s"), Decision::Refuse(60));
    }
}
