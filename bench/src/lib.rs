//! What the bench binaries share.

pub mod runtime_api;
