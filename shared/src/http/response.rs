//! How every answer is written: JSON with the security headers, or an empty 204.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::Value;

/// A JSON answer with the headers every response carries. Non-ASCII stays unescaped.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Every answer of an account API is personal: never cache any of them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 204: done, nothing to say. No body, so no `Content-Type` (as DRF answers an empty
/// response); the security headers as on every answer.
pub fn no_content() -> Response<Body> {
    let mut response = json_response(StatusCode::NO_CONTENT, &Value::Null);
    *response.body_mut() = Body::Empty;
    response.headers_mut().remove(header::CONTENT_TYPE);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_content_has_no_body_and_no_content_type_but_the_security_headers() {
        let response = no_content();
        assert_eq!(response.status(), 204);
        assert!(response.body().is_empty());
        let headers = response.headers();
        assert!(headers.get(header::CONTENT_TYPE).is_none());
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn every_answer_carries_the_security_headers_and_raw_unicode() {
        let response = json_response(StatusCode::OK, &serde_json::json!({"message": "반갑습니다"}));
        let headers = response.headers();
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.body().as_ref(), "{\"message\":\"반갑습니다\"}".as_bytes());
    }
}
