//! Test support for the functions' handler tests (feature `testing`): one set of helpers for
//! every `functions/*/tests/handler.rs`. Real API Gateway REST API events parsed by
//! `lambda_http`, an application over the in-memory store, users and sessions made straight in
//! it, the tokens a route must refuse, and the checks on the answers every route shares; each
//! file below holds one of these, and everything is re-exported here (`shared::testing::*`).
//!
//! - `app`: the test configuration, an app over a fresh memory store, a recording mailer
//! - `events`: requests as the deployed API sends them; bodies, headers and cookies of answers
//! - `users`: the test user, created and joined; sessions started, spent and checked; the
//!   security events recorded
//! - `tokens`: bearer values, expired, foreign and unsigned tokens, the 401 bodies
//! - `assertions`: the answers every route shares (security headers, 400, 401, 404, 503, 204, ...)
//! - `interfering`: a store that lets a change land between a handler's read and its write
//! - `logs`: the log lines written during a test

mod app;
mod assertions;
mod events;
mod interfering;
mod logs;
mod tokens;
mod users;

pub use app::*;
pub use assertions::*;
pub use events::*;
pub use interfering::*;
pub use logs::*;
pub use tokens::*;
pub use users::*;
