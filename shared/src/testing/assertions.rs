//! The checks on the answers every route shares (contract §1, §2, §5): the security headers, a
//! POST route's 404/405/OPTIONS, 204, 400, 404, the 401s with their challenge, the 503 of a store
//! that is down, and the hardened token cookies. The synchronous ones name the failing test's line
//! (`#[track_caller]`).

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::events::{body_json, body_text, cookie_attributes, event, header, post_json, set_cookie, set_cookies};

/// The `WWW-Authenticate` challenge of every 401 but logout's.
pub const CHALLENGE: &str = "Bearer realm=\"api\"";

/// Asserts the headers every answer carries (contract §1).
#[track_caller]
pub fn assert_security_headers(response: &Response<Body>) {
    assert_eq!(header(response, "content-type"), Some("application/json"));
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(response, "x-frame-options"), Some("DENY"));
    assert_eq!(header(response, "referrer-policy"), Some("same-origin"));
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

/// What every POST route answers before its handler runs (the shared `serve`): 405 with
/// `Allow` for other methods, its methods to OPTIONS on both spellings of its path, and the
/// JSON 404 for paths it does not own.
pub async fn assert_post_route_conventions<F, Fut>(handler: F, path: &str, name: &str, foreign_paths: &[&str])
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    for method in ["GET", "PUT", "DELETE"] {
        let response = handler(event(method, path, &[], None)).await;
        assert_eq!(response.status(), 405, "{method}");
        assert_security_headers(&response);
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        assert_eq!(
            body_json(&response),
            json!({"detail": format!("Method \"{method}\" not allowed.")})
        );
    }
    for spelling in [path, path.trim_end_matches('/')] {
        let response = handler(event("OPTIONS", spelling, &[], None)).await;
        assert_eq!(response.status(), 200, "OPTIONS {spelling}");
        assert_eq!(header(&response, "allow"), Some("POST, OPTIONS"));
        assert_eq!(body_json(&response)["name"], name);
    }
    for foreign in foreign_paths {
        let response = handler(post_json(foreign, &json!({}), &[])).await;
        assert_eq!(response.status(), 404, "{foreign}");
        assert_security_headers(&response);
        assert_eq!(body_json(&response), json!({"detail": "Not found."}));
    }
}

/// Asserts a 204: no body, no `Content-Type`, the other headers every answer carries.
#[track_caller]
pub fn assert_no_content(response: &Response<Body>) {
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty(), "{:?}", response.body());
    assert_eq!(header(response, "content-type"), None);
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(response, "x-frame-options"), Some("DENY"));
    assert_eq!(header(response, "referrer-policy"), Some("same-origin"));
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

/// Asserts the JSON 404 (`{"detail": "Not found."}`) with the headers every answer carries.
#[track_caller]
pub fn assert_not_found(response: &Response<Body>) {
    assert_eq!(response.status(), 404, "{}", body_text(response));
    assert_security_headers(response);
    assert_eq!(body_json(response), json!({"detail": "Not found."}));
}

/// Asserts a 400 answering with `expected` (the field errors, or a body's `detail`): the
/// headers every answer carries, no challenge, no cookie.
#[track_caller]
pub fn assert_400(response: &Response<Body>, expected: &Value) {
    assert_eq!(response.status(), 400, "{}", body_text(response));
    assert_security_headers(response);
    assert!(header(response, "www-authenticate").is_none());
    assert!(set_cookies(response).is_empty(), "no cookies on a refusal");
    assert_eq!(&body_json(response), expected);
}

/// Asserts a 401 with the challenge ([`CHALLENGE`]) and `expected` as its body, as a protected
/// route, token/refresh and token/verify answer (logout's 401s carry no challenge): the headers
/// every answer carries, no cookie.
#[track_caller]
pub fn assert_401(response: &Response<Body>, expected: &Value) {
    assert_eq!(response.status(), 401, "{}", body_text(response));
    assert_security_headers(response);
    assert_eq!(header(response, "www-authenticate"), Some(CHALLENGE));
    assert!(set_cookies(response).is_empty(), "no cookies on a refusal");
    assert_eq!(&body_json(response), expected);
}

/// Asserts the 401 of token/refresh and token/verify refusing the token of the body:
/// `{"detail": detail, "code": "token_not_valid"}`, with [`assert_401`]'s checks.
#[track_caller]
pub fn assert_token_refused(response: &Response<Body>, detail: &str) {
    assert_401(response, &json!({"detail": detail, "code": "token_not_valid"}));
}

/// Asserts the 503 of a store that is down (contract §5): the headers every answer carries,
/// `Retry-After` in whole seconds, no challenge, the contract's body.
#[track_caller]
pub fn assert_unavailable(response: &Response<Body>) {
    assert_eq!(response.status(), 503, "{}", body_text(response));
    assert_security_headers(response);
    let retry_after = header(response, "retry-after").expect("Retry-After");
    assert!(
        retry_after.parse::<u32>().is_ok_and(|seconds| seconds >= 1),
        "Retry-After {retry_after}"
    );
    assert!(header(response, "www-authenticate").is_none());
    assert_eq!(
        body_json(response),
        json!({"detail": "Service temporarily unavailable."})
    );
}

/// Asserts the response sets the cookie `name` to `token`, hardened: `HttpOnly`, `Secure`,
/// `SameSite=Lax`, `Path=/`, `max_age` (`Max-Age=3600`) and an `Expires`.
#[track_caller]
pub fn assert_token_cookie(response: &Response<Body>, name: &str, token: &str, max_age: &str) {
    let cookie = set_cookie(response, name).unwrap_or_else(|| panic!("no {name} cookie"));
    assert!(cookie.starts_with(&format!("{name}={token};")), "{cookie}");
    let attributes = cookie_attributes(&cookie);
    for wanted in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", max_age] {
        assert!(attributes.contains(&wanted), "{cookie} lacks {wanted}");
    }
    assert!(
        attributes.iter().any(|attribute| attribute.starts_with("Expires=")),
        "{cookie} lacks Expires"
    );
}
