//! End-to-end: every route over real HTTP through cargo lambda's router and real DynamoDB.

mod admin;
mod conventions;
mod email;
mod flows;
mod join;
mod key_rotation;
mod login;
mod logout;
mod mypage;
mod password_change;
mod races;
mod refresh;
mod security_events;
mod sessions;
mod token_verify;
mod user;
mod user_delete;
mod well_known;

/// Tests that need more than HTTP (the stack's signing key or its table): `make smoke` skips
/// every test whose path has `white_box` in it. The attack list signs some tokens with the key;
/// the REST API events go to the functions through the emulator's Lambda Invoke API.
mod white_box {
    mod attacks;
    mod mail;
    mod rest_events;
    mod social;
}
