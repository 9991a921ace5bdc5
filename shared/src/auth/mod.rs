//! Who is asking: passwords (Argon2id, Django's validators), the login throttle on password
//! guesses, and the check of a presented token against its session and user.

pub mod password;
pub mod session;
pub mod throttle;

pub use session::{
    Authenticated, LiveRefresh, RefreshUse, Standing, authenticate, authenticate_staff, check_refresh, standing,
};
