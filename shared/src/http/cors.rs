//! Cross-origin access for browser front ends, answered by the functions themselves.
//!
//! The REST API front door passes every method, OPTIONS included, to the functions (Lambda
//! proxy integration), so the same code answers CORS locally and on AWS. Tokens travel in
//! cookies, so credentials are allowed, and with credentials browsers accept only the exact
//! origin: we echo an origin from `ALLOWED_ORIGINS`, never `*`.

use lambda_http::http::{HeaderValue, Method, header};
use lambda_http::{Body, Request, Response};

/// Headers a browser script may read beyond the CORS-safelisted ones: the wait of a 429 or
/// 503, and the challenge of a 401.
const EXPOSED_HEADERS: &str = "Retry-After, WWW-Authenticate";
/// Request headers a page may send: the bearer token and a JSON body.
const ALLOWED_HEADERS: &str = "authorization, content-type";
/// How long a browser may reuse a preflight answer (Chromium caps it at 7200 s).
const PREFLIGHT_MAX_AGE: &str = "600";

/// The browser origins allowed to call the API with credentials (`ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
}

/// Why an `ALLOWED_ORIGINS` entry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadOrigin;

impl Cors {
    /// Parses a comma-separated list of origins (`https://app.example.com`); blanks are
    /// skipped. `*` is refused (credentials forbid it), and so is anything with a path, a query
    /// or a scheme other than http(s): a browser's `Origin` never has them, so such an entry
    /// could only be a mistake that silently matches nothing.
    pub fn parse(list: &str) -> Result<Self, BadOrigin> {
        let mut origins = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let host = entry
                .strip_prefix("https://")
                .or_else(|| entry.strip_prefix("http://"))
                .ok_or(BadOrigin)?;
            if host.is_empty() || host.contains(['/', '?', '#', '*', ' ']) {
                return Err(BadOrigin);
            }
            origins.push(entry.to_owned());
        }
        Ok(Cors { origins })
    }

    /// Whether `origin` (a request's `Origin` header) is one of `ALLOWED_ORIGINS`.
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.origins.iter().any(|allowed| allowed.as_bytes() == origin)
    }

    /// Adds the CORS answer to `response` when the request comes from an allowed origin; a
    /// preflight (OPTIONS with `Access-Control-Request-Method`) also learns the route's
    /// methods (`allow`, its `Allow` list). Other origins get nothing, so browsers block them.
    pub fn apply(&self, request: &Request, allow: Option<&'static str>, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        // The answer depends on the Origin header: caches must key on it.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = request.headers().get(header::ORIGIN) else {
            return;
        };
        if !self.allows(origin.as_bytes()) {
            return;
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        let preflight = request.method() == Method::OPTIONS
            && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let (true, Some(allow)) = (preflight, allow) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(allow));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::Request as HttpRequest;

    const APP: &str = "https://app.example.com";

    fn cors() -> Cors {
        Cors::parse(" https://app.example.com, ,http://localhost:9001 ").unwrap()
    }

    fn answer(cors: &Cors, method: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut builder = HttpRequest::builder().method(method);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Body::Empty).unwrap();
        let mut response = Response::new(Body::Empty);
        cors.apply(&request, Some("POST, OPTIONS"), &mut response);
        response
    }

    #[test]
    fn an_allowed_origin_is_echoed_with_credentials_and_the_exposed_headers() {
        let response = answer(&cors(), "POST", &[("origin", APP)]);
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], EXPOSED_HEADERS);
        assert_eq!(headers[header::VARY], "Origin");
        assert!(
            !headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS),
            "not a preflight"
        );
    }

    #[test]
    fn a_preflight_learns_the_routes_methods_and_headers() {
        let response = answer(
            &cors(),
            "OPTIONS",
            &[
                ("origin", "http://localhost:9001"),
                ("access-control-request-method", "POST"),
            ],
        );
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:9001");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "POST, OPTIONS");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], ALLOWED_HEADERS);
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], PREFLIGHT_MAX_AGE);
    }

    #[test]
    fn other_origins_and_origin_less_requests_get_no_cors_headers() {
        for headers in [
            vec![("origin", "https://evil.example.com")],
            vec![("origin", "https://app.example.com.evil.example")],
            vec![("origin", "HTTPS://APP.EXAMPLE.COM")],
            vec![("origin", "null")],
            vec![],
        ] {
            let response = answer(&cors(), "OPTIONS", &headers);
            let cors_headers = response
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .count();
            assert_eq!(cors_headers, 0, "{headers:?}");
            assert_eq!(response.headers()[header::VARY], "Origin");
        }
    }

    #[test]
    fn wildcards_paths_and_other_schemes_are_refused() {
        for list in [
            "*",
            "https://*.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "app.example.com",
            "ftp://app.example.com",
            "https://",
        ] {
            assert_eq!(Cors::parse(list), Err(BadOrigin), "{list}");
        }
        assert_eq!(Cors::parse("").unwrap(), Cors::default());
    }
}
