//! What the account functions share. Each function's `lib.rs` holds its handler; this crate
//! holds everything they have in common, so each rule lives in one place.
//!
//! The modules are layered, from the bottom up: `clock`, `ids`, `logging`, `aws` (leaves);
//! `store`; `tokens`; `http`; `config`; `mail`; `app`; `security_log`; `auth`; `account`; `admin` and `social`. Each uses only the
//! layers below its own, so the graph has no cycle (`tools/check_modules.py`, in `make test`).

pub mod account;
pub mod admin;
pub mod app;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod http;
pub mod ids;
pub mod logging;
pub mod mail;
pub mod security_log;
pub mod social;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

pub use app::{App, MailerFactory, init_logging, no_mailer, run_function, run_mailing_function};
pub use clock::now_unix;
pub use tokens::KeyUse;
