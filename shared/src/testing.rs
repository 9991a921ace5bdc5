//! Test support for handler tests (feature `testing`): real API Gateway v2 events parsed by
//! `lambda_http`, and an application over the in-memory store.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::App;
use crate::config::Config;
use crate::store::MemoryStore;

pub const TEST_SIGNING_KEY: &str = "handler-test-signing-key-0123456789abcdef";

/// An application over a fresh memory store, with the defaults plus `overrides` (env names).
pub fn app_with(overrides: &[(&str, &str)]) -> App<MemoryStore> {
    let config = Config::from_lookup(|name| {
        if name == "JWT_SIGNING_KEY" {
            return Some(TEST_SIGNING_KEY.to_owned());
        }
        overrides.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    })
    .expect("test configuration is valid");
    App::new(config, MemoryStore::new())
}

pub fn app() -> App<MemoryStore> {
    app_with(&[])
}

/// An API Gateway HTTP API (v2) event, as API Gateway and `cargo lambda watch` send it, parsed
/// into a request by `lambda_http` itself.
pub fn event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Request {
    let mut header_map = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("cookie") {
            cookies.extend(value.split("; ").map(str::to_owned));
        } else {
            header_map.insert(name.to_ascii_lowercase(), Value::String((*value).to_owned()));
        }
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "cookies": cookies,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "test-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795694400000_i64
        },
        "body": body,
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a well-formed v2 event")
}

/// A POST with a JSON body.
pub fn post_json(path: &str, body: &Value, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    event("POST", path, &all, Some(&body.to_string()))
}

/// The JSON body of a response.
pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}
