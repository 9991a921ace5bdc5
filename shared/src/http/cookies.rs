//! The token cookies: set by login and refresh (HttpOnly, Secure, SameSite=Lax), deleted by
//! logout with the same attributes, and read back from a request.

use cookie::{Cookie, SameSite};
use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

/// Cookie carrying the access token (contract §4, login).
pub const ACCESS_COOKIE: &str = "my-app-auth";
/// Cookie carrying the refresh token.
pub const REFRESH_COOKIE: &str = "my-refresh-token";

/// A token cookie as login and refresh set it.
pub fn token_cookie(name: &'static str, token: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(max_age_seconds);
    let cookie = Cookie::build((name, token))
        .path("/")
        .same_site(SameSite::Lax)
        .http_only(true)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age_seconds))
        .expires(expires)
        .build();
    header_value(&cookie)
}

/// The same cookie, deleted: empty, `Max-Age=0`, expired, with the attributes it was set with.
pub fn expired_cookie(name: &'static str, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name, ""))
        .path("/")
        .same_site(SameSite::Lax)
        .http_only(true)
        .secure(secure)
        .max_age(time::Duration::ZERO)
        .expires(OffsetDateTime::UNIX_EPOCH)
        .build();
    header_value(&cookie)
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // Tokens are base64url and dots, names are fixed: the text is always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Adds `Set-Cookie` headers to an answer.
pub fn with_cookies(mut response: Response<Body>, cookies: impl IntoIterator<Item = HeaderValue>) -> Response<Body> {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The value of a request cookie. API Gateway v2 joins its `cookies` into `Cookie` headers.
pub fn request_cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::Request as HttpRequest;

    fn request_with(header_name: header::HeaderName, value: &str) -> Request {
        HttpRequest::builder()
            .header(header_name, value)
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn cookies_are_hardened_and_deleted_with_the_same_attributes() {
        let set = token_cookie(ACCESS_COOKIE, "tok", 3600, true);
        let set = set.to_str().unwrap();
        for part in [
            "my-app-auth=tok",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=3600",
            "Expires=",
        ] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        let gone = expired_cookie(REFRESH_COOKIE, false);
        let gone = gone.to_str().unwrap();
        assert!(gone.starts_with("my-refresh-token=;"), "{gone}");
        assert!(gone.contains("Max-Age=0") && gone.contains("Path=/") && !gone.contains("Secure"));
    }

    #[test]
    fn request_cookies_are_found_among_others() {
        let request = request_with(header::COOKIE, "a=1; my-refresh-token=xyz; b=2");
        assert_eq!(request_cookie(&request, REFRESH_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(request_cookie(&request, ACCESS_COOKIE), None);
    }
}
