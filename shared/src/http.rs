//! The HTTP edge every function shares: which requests an endpoint admits, how answers are
//! written (JSON, security headers), the token cookies, and the bearer header.

use std::future::Future;

use cookie::{Cookie, SameSite};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use time::OffsetDateTime;

use crate::cors::Cors;
use crate::error::{AccessDenied, ApiError};
use crate::token::is_id;

/// Cookie carrying the access token (contract §4, login).
pub const ACCESS_COOKIE: &str = "my-app-auth";
/// Cookie carrying the refresh token.
pub const REFRESH_COOKIE: &str = "my-refresh-token";

/// The methods a route answers (OPTIONS always, and HEAD wherever GET is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// POST: the token and password routes.
    Post,
    /// GET and HEAD: mypage.
    Get,
    /// GET and HEAD, and PUT and PATCH to change: a resource the bearer may edit (user).
    GetPutPatch,
    /// DELETE: one of the bearer's resources by id (a session).
    Delete,
}

/// The last segment of a path that names one resource by its id (`/account/sessions/{id}`):
/// the REST API resource and the local router's route are written the same way.
const ID_SEGMENT: &str = "/{id}";

/// One route of the contract: its path (without the trailing slash) and its methods. A path
/// ending in `/{id}` owns the paths whose last segment is an id (32 lowercase hex digits, as
/// `crate::token::random_id` makes them); any other segment there is not found.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Shown in the OPTIONS answer, as DRF names its views.
    pub name: &'static str,
    pub path: &'static str,
    pub methods: Methods,
}

impl Endpoint {
    /// A route answering POST (and OPTIONS).
    pub const fn post(name: &'static str, path: &'static str) -> Self {
        Endpoint {
            name,
            path,
            methods: Methods::Post,
        }
    }

    /// A route answering GET and HEAD (and OPTIONS).
    pub const fn get(name: &'static str, path: &'static str) -> Self {
        Endpoint {
            name,
            path,
            methods: Methods::Get,
        }
    }

    /// A route answering GET, HEAD, PUT and PATCH (and OPTIONS), as DRF's `RetrieveUpdateAPIView`.
    pub const fn get_put_patch(name: &'static str, path: &'static str) -> Self {
        Endpoint {
            name,
            path,
            methods: Methods::GetPutPatch,
        }
    }

    /// A route answering DELETE (and OPTIONS), its path ending in `/{id}`.
    pub const fn delete(name: &'static str, path: &'static str) -> Self {
        Endpoint {
            name,
            path,
            methods: Methods::Delete,
        }
    }

    /// The `Allow` header value for this route, in DRF's order.
    pub const fn allow(&self) -> &'static str {
        match self.methods {
            Methods::Post => "POST, OPTIONS",
            Methods::Get => "GET, HEAD, OPTIONS",
            Methods::GetPutPatch => "GET, PUT, PATCH, HEAD, OPTIONS",
            Methods::Delete => "DELETE, OPTIONS",
        }
    }

    /// Whether the handler answers `method` (OPTIONS is answered before it).
    fn admits(&self, method: &Method) -> bool {
        let reads = *method == Method::GET || *method == Method::HEAD;
        match self.methods {
            Methods::Post => *method == Method::POST,
            Methods::Get => reads,
            Methods::GetPutPatch => reads || *method == Method::PUT || *method == Method::PATCH,
            Methods::Delete => *method == Method::DELETE,
        }
    }

    /// The OPTIONS answer: what DRF's metadata says, less its HTML renderer and multipart.
    fn description(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "description": "",
            "renders": ["application/json"],
            "parses": ["application/json", "application/x-www-form-urlencoded"],
        })
    }

    /// Whether `path` (either spelling) is this route's.
    pub fn owns(&self, path: &str) -> bool {
        let path = path.strip_suffix('/').unwrap_or(path);
        match self.path.strip_suffix(ID_SEGMENT) {
            Some(parent) => id_in(path, parent).is_some(),
            None => path == self.path,
        }
    }

    /// The id a request for a `/{id}` route names: from the event's path parameters, where the
    /// front door matched the route (the REST API's `{id}` resource, the local router's `{id}`
    /// segment), otherwise read from the path itself. `None` unless it is a well-formed id.
    pub fn id(&self, request: &Request) -> Option<String> {
        let parent = self.path.strip_suffix(ID_SEGMENT)?;
        if let Some(id) = request
            .path_parameters_ref()
            .and_then(|parameters| parameters.first("id"))
        {
            tracing::debug!("id from the path parameters");
            return is_id(id).then(|| id.to_owned());
        }
        tracing::debug!("id from the path");
        let path = request.raw_http_path();
        id_in(path.strip_suffix('/').unwrap_or(path), parent).map(str::to_owned)
    }
}

/// The id that `path` names below `parent` (`/account/sessions/<id>`), if it is one.
fn id_in<'p>(path: &'p str, parent: &str) -> Option<&'p str> {
    let id = path.strip_prefix(parent)?.strip_prefix('/')?;
    is_id(id).then_some(id)
}

/// Runs `handler` for a request the endpoint admits and turns every outcome, errors included,
/// into the contract's answer. Paths the endpoint does not own get 404; other methods 405;
/// OPTIONS gets the `Allow` list; HEAD runs the GET handler and drops the body. Every answer
/// carries the CORS headers an allowed browser origin needs.
pub async fn serve<'r, F, Fut>(cors: &Cors, endpoint: &Endpoint, request: &'r Request, handler: F) -> Response<Body>
where
    F: FnOnce(&'r Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let method = request.method();
    let owned = endpoint.owns(request.raw_http_path());
    let outcome = if !owned {
        Err(ApiError::NotFound)
    } else if method == Method::OPTIONS {
        Ok(json_response(StatusCode::OK, &endpoint.description()))
    } else if endpoint.admits(method) && is_cross_site(cors, request) {
        tracing::info!("a cross-site browser request refused");
        Err(ApiError::CrossSite)
    } else if endpoint.admits(method) {
        handler(request).await
    } else {
        Err(ApiError::MethodNotAllowed {
            method: method.as_str().to_owned(),
            allow: endpoint.allow(),
        })
    };
    let mut response = finish(outcome);
    let allow = owned.then(|| endpoint.allow());
    if let Some(allow) = allow {
        // Like the reference, every answer of a route lists the route's methods.
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    cors.apply(request, allow, &mut response);
    if method == Method::HEAD {
        *response.body_mut() = Body::Empty;
    }
    response
}

/// Whether `request` is a browser's request that changes something (any method but GET, HEAD and
/// OPTIONS) sent by a page of a site we do not trust: login CSRF (a cross-site form logging the
/// victim into the attacker's account: form bodies need no preflight), and refresh and logout,
/// which act on the refresh cookie alone. Browsers say where a request comes from in headers no
/// page can set (`Origin` on every cross-origin POST, `Sec-Fetch-Site`): trusted are the page's
/// own origin and `ALLOWED_ORIGINS`. Requests without them (mobile apps, servers, curl) carry
/// no ambient cookie of a victim and pass, as Django's and allauth's checks let them.
pub fn is_cross_site(cors: &Cors, request: &Request) -> bool {
    let method = request.method();
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return false;
    }
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if fetch_site == Some(b"same-origin".as_slice()) {
        return false;
    }
    match headers.get(header::ORIGIN) {
        Some(origin) => !(cors.allows(origin.as_bytes()) || is_own_origin(origin.as_bytes(), request)),
        // A browser that says the request crosses sites but names no origin: not trusted.
        None => matches!(fetch_site, Some(b"cross-site" | b"same-site")),
    }
}

/// Whether `origin` is the API's own (a page served by the same host), by the `Host` header.
fn is_own_origin(origin: &[u8], request: &Request) -> bool {
    let Some(host) = request.headers().get(header::HOST).map(HeaderValue::as_bytes) else {
        return false;
    };
    let authority = origin
        .strip_prefix(b"https://")
        .or_else(|| origin.strip_prefix(b"http://"));
    authority == Some(host)
}

/// The single exit of every handler: an error becomes its contract answer here, and is logged
/// by kind only (never with request data).
pub fn finish(outcome: Result<Response<Body>, ApiError>) -> Response<Body> {
    match outcome {
        Ok(response) => {
            tracing::debug!(status = response.status().as_u16(), "answered");
            response
        }
        Err(error) => {
            let response = error_response(error);
            tracing::debug!(status = response.status().as_u16(), "answered with an error");
            response
        }
    }
}

fn error_response(error: ApiError) -> Response<Body> {
    match &error {
        ApiError::Internal => tracing::error!("internal error"),
        // Logged with its cause where the store error became this one.
        ApiError::Unavailable => {}
        other => tracing::debug!(kind = %other, "request refused"),
    }
    error.into_response()
}

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

/// The token of `Authorization: Bearer <token>`, read as simplejwt reads it: no header or
/// another scheme means no credentials; `Bearer` with zero or several values is malformed.
pub fn bearer_token(request: &Request) -> Result<&str, AccessDenied> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(AccessDenied::NoCredentials);
    };
    let mut parts = value
        .as_bytes()
        .split(u8::is_ascii_whitespace)
        .filter(|part| !part.is_empty());
    if parts.next() != Some(b"Bearer".as_slice()) {
        return Err(AccessDenied::NoCredentials);
    }
    match (parts.next(), parts.next()) {
        (Some(token), None) => std::str::from_utf8(token).map_err(|_| AccessDenied::Invalid),
        _ => Err(AccessDenied::BadHeader),
    }
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

    fn browser_request(method: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = HttpRequest::builder().method(method);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    #[test]
    fn only_untrusted_browser_requests_that_change_something_are_cross_site() {
        let cors = Cors::parse("https://app.example.com").unwrap();
        let host = ("host", "api.example.com");
        for (method, headers, refused) in [
            // An attacker's page, as a browser sends its form or fetch.
            ("POST", vec![("origin", "https://evil.example"), host], true),
            ("DELETE", vec![("origin", "https://evil.example"), host], true),
            ("PATCH", vec![("origin", "null"), host], true),
            ("POST", vec![("sec-fetch-site", "cross-site"), host], true),
            ("POST", vec![("sec-fetch-site", "same-site"), host], true),
            // Trusted: an allowed origin, the API's own, a same-origin request, no browser at all.
            ("POST", vec![("origin", "https://app.example.com"), host], false),
            ("POST", vec![("origin", "https://api.example.com"), host], false),
            (
                "POST",
                vec![("origin", "https://evil.example"), ("sec-fetch-site", "same-origin")],
                false,
            ),
            ("POST", vec![host], false),
            ("POST", vec![("sec-fetch-site", "none"), host], false),
            // Reads change nothing.
            ("GET", vec![("origin", "https://evil.example"), host], false),
            ("OPTIONS", vec![("origin", "https://evil.example"), host], false),
        ] {
            let request = browser_request(method, &headers);
            assert_eq!(is_cross_site(&cors, &request), refused, "{method} {headers:?}");
        }
    }

    #[test]
    fn bearer_header_is_read_like_simplejwt() {
        let none = HttpRequest::builder().body(Body::Empty).unwrap();
        assert_eq!(bearer_token(&none), Err(AccessDenied::NoCredentials));
        let basic = request_with(header::AUTHORIZATION, "Basic abc");
        assert_eq!(bearer_token(&basic), Err(AccessDenied::NoCredentials));
        let bare = request_with(header::AUTHORIZATION, "Bearer");
        assert_eq!(bearer_token(&bare), Err(AccessDenied::BadHeader));
        let two = request_with(header::AUTHORIZATION, "Bearer a b");
        assert_eq!(bearer_token(&two), Err(AccessDenied::BadHeader));
        let good = request_with(header::AUTHORIZATION, "Bearer abc.def.ghi");
        assert_eq!(bearer_token(&good), Ok("abc.def.ghi"));
    }

    #[test]
    fn each_kind_of_route_admits_exactly_the_methods_its_allow_lists() {
        for endpoint in [
            Endpoint::post("P", "/p"),
            Endpoint::get("G", "/g"),
            Endpoint::get_put_patch("U", "/u"),
            Endpoint::delete("D", "/d/{id}"),
        ] {
            for method in [
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::TRACE,
            ] {
                let listed = endpoint.allow().split(", ").any(|name| name == method.as_str());
                assert_eq!(endpoint.admits(&method), listed, "{} {method}", endpoint.name);
            }
        }
        assert_eq!(
            Endpoint::get_put_patch("U", "/u").allow(),
            "GET, PUT, PATCH, HEAD, OPTIONS"
        );
    }

    #[test]
    fn a_route_by_id_owns_well_formed_ids_in_either_spelling_only() {
        let item = Endpoint::delete("Session", "/account/sessions/{id}");
        let id = "0123456789abcdef0123456789abcdef";
        assert!(item.owns(&format!("/account/sessions/{id}")));
        assert!(item.owns(&format!("/account/sessions/{id}/")));
        for path in [
            "/account/sessions",
            "/account/sessions/",
            "/account/sessions/revoke-others/",
            "/account/sessions/0123456789ABCDEF0123456789ABCDEF/",
            "/account/sessions/0123456789abcdef0123456789abcde/",
            "/account/sessions/0123456789abcdef0123456789abcdef0/",
            "/account/sessions/0123456789abcdef0123456789abcdef/x/",
            "/account/sessions//",
            "/account/sessionsx/0123456789abcdef0123456789abcdef/",
        ] {
            assert!(!item.owns(path), "{path}");
        }
        let list = Endpoint::get("Session List", "/account/sessions");
        assert!(list.owns("/account/sessions/") && !list.owns(&format!("/account/sessions/{id}/")));
    }

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
