//! Any `Authorization` header and any token string, through bearer parsing and verification
//! as either kind, and as token/verify reads it (any kind): a verdict for every input, never a
//! panic.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shared::config::Config;
use shared::tokens::{TokenKeys, TokenKind};

static KEYS: LazyLock<TokenKeys> = LazyLock::new(|| {
    let config = Config::from_lookup(|name| {
        (name == "JWT_SIGNING_KEY").then(|| "fuzz-signing-key-0123456789abcdef0123".to_owned())
    })
    .expect("fuzz configuration");
    config.token_keys()
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = KEYS.verify(&text, TokenKind::Access);
    let _ = KEYS.verify(&text, TokenKind::Refresh);
    let _ = KEYS.verify_any(&text);
    let request = lambda_http::http::Request::builder()
        .uri("https://api.example.com/account/mypage/")
        .header("authorization", data)
        .body(lambda_http::Body::Empty);
    if let Ok(request) = request
        && let Ok(token) = shared::http::bearer_token(&request)
    {
        let _ = KEYS.verify(token, TokenKind::Access);
    }
});
