//! The settings of the login throttle (`LOGIN_THROTTLE_*`): how many wrong passwords lock an
//! email, for how long, and how long they are remembered.

// ANCHOR: variables
/// After `failures` wrong passwords for one email, password checks for that email are refused
/// for `lockout` seconds, doubling with each further wrong password up to `max_lockout`. The
/// count is forgotten `window` seconds after the last wrong password or the end of the lockout
/// it earned, whichever is later, and at once by a right password. Unknown emails are counted
/// alike. `failures = 0` turns the throttle off. The rules themselves are in `crate::auth::throttle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// `LOGIN_THROTTLE_FAILURES` (default 5).
    pub failures: u32,
    /// `LOGIN_THROTTLE_WINDOW_SECONDS` (default 86400): how long wrong passwords are remembered.
    pub window: i64,
    /// `LOGIN_THROTTLE_LOCKOUT_SECONDS` (default 60).
    pub lockout: i64,
    /// `LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS` (default 3600).
    pub max_lockout: i64,
}
// ANCHOR_END: variables

impl LoginThrottle {
    pub fn enabled(&self) -> bool {
        self.failures > 0
    }

    /// The lockout that `count` failures in the window earn, if any: `lockout` at the
    /// threshold, doubled for each failure past it, at most `max_lockout`.
    pub fn lockout_after(&self, count: u32) -> Option<i64> {
        if !self.enabled() || count < self.failures {
            return None;
        }
        let doublings = (count - self.failures).min(32);
        Some(self.lockout.saturating_mul(1_i64 << doublings).min(self.max_lockout))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn lockouts_start_at_the_threshold_and_double_to_the_cap() {
        let throttle = config_from(&[("JWT_SIGNING_KEY", KEY)]).unwrap().login_throttle;
        assert_eq!(
            (
                throttle.failures,
                throttle.window,
                throttle.lockout,
                throttle.max_lockout
            ),
            (5, 86400, 60, 3600)
        );
        let lockouts: Vec<Option<i64>> = (1..=13).map(|count| throttle.lockout_after(count)).collect();
        assert_eq!(
            lockouts,
            [
                None,
                None,
                None,
                None,
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(960),
                Some(1920),
                Some(3600),
                Some(3600),
                Some(3600)
            ]
        );
        assert_eq!(throttle.lockout_after(u32::MAX), Some(3600), "no overflow");
        let off = config_from(&[("JWT_SIGNING_KEY", KEY), ("LOGIN_THROTTLE_FAILURES", "0")])
            .unwrap()
            .login_throttle;
        assert!(!off.enabled());
        assert_eq!(off.lockout_after(1000), None);
        assert!(config_from(&[("JWT_SIGNING_KEY", KEY), ("LOGIN_THROTTLE_MAX_LOCKOUT_SECONDS", "10")]).is_err());
        assert!(config_from(&[("JWT_SIGNING_KEY", KEY), ("LOGIN_THROTTLE_WINDOW_SECONDS", "0")]).is_err());
    }
}
