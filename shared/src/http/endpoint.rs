//! Which requests an endpoint admits, and the one place every outcome becomes the contract's
//! answer: the route's path and methods, OPTIONS, HEAD, a refused cross-site request, CORS.

use std::future::Future;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use super::cors::Cors;
use super::error::ApiError;
use super::response::json_response;
use crate::ids::is_id;

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
    /// GET and HEAD, PATCH and DELETE: a resource staff read, change and remove (a user).
    GetPatchDelete,
}

/// A path segment naming one resource by its id (`/account/sessions/{id}`): it matches ids
/// alone (32 lowercase hex digits, as `crate::ids::random_id` makes them). The REST API
/// resource and the local router's route are written the same way.
const ID_SEGMENT: &str = "{id}";
// Any other named segment — a user's pk (`/account/admin/users/{pk}`), a provider
// (`/account/social/{provider}`) — matches any one segment, and the handler judges it: a
// malformed pk is bad input (400), an unconfigured provider not found (404).

/// One route of the contract: its path (without the trailing slash) and its methods. A path
/// with an `{id}` segment owns the paths with an id there (any other segment there is not
/// found); a `{pk}` segment, any one segment.
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

    /// A route answering GET, HEAD, PATCH and DELETE (and OPTIONS).
    pub const fn get_patch_delete(name: &'static str, path: &'static str) -> Self {
        Endpoint {
            name,
            path,
            methods: Methods::GetPatchDelete,
        }
    }

    /// The `Allow` header value for this route, in DRF's order.
    pub const fn allow(&self) -> &'static str {
        match self.methods {
            Methods::Post => "POST, OPTIONS",
            Methods::Get => "GET, HEAD, OPTIONS",
            Methods::GetPutPatch => "GET, PUT, PATCH, HEAD, OPTIONS",
            Methods::Delete => "DELETE, OPTIONS",
            Methods::GetPatchDelete => "GET, PATCH, DELETE, HEAD, OPTIONS",
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
            Methods::GetPatchDelete => reads || *method == Method::PATCH || *method == Method::DELETE,
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
        self.segments(path).is_some()
    }

    /// The named segments of `path` (`{id}`, `{pk}`, `{provider}`) if it is this route's.
    fn segments<'p>(&self, path: &'p str) -> Option<Vec<(&'static str, &'p str)>> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut named = Vec::new();
        let mut wanted = self.path.split('/');
        let mut given = path.split('/');
        loop {
            match (wanted.next(), given.next()) {
                (None, None) => return Some(named),
                (Some(ID_SEGMENT), Some(id)) if is_id(id) => named.push(("id", id)),
                // `{pk}`, `{provider}`: any one segment, judged by the handler.
                (Some(wanted), Some(segment))
                    if wanted.starts_with('{')
                        && wanted.ends_with('}')
                        && wanted != ID_SEGMENT
                        && !segment.is_empty() =>
                {
                    named.push((&wanted[1..wanted.len() - 1], segment))
                }
                (Some(fixed), Some(segment)) if fixed == segment && !fixed.starts_with('{') => {}
                _ => return None,
            }
        }
    }

    /// The segment `name` (`id`, `pk`) of a request's path: from the event's path parameters,
    /// where the front door matched the route (the REST API's resource, the local router's
    /// route), otherwise read from the path itself. An `id` is always a well-formed id.
    pub fn parameter(&self, request: &Request, name: &str) -> Option<String> {
        if let Some(value) = request
            .path_parameters_ref()
            .and_then(|parameters| parameters.first(name))
        {
            tracing::debug!(name, "segment from the path parameters");
            return (name != "id" || is_id(value)).then(|| value.to_owned());
        }
        tracing::debug!(name, "segment from the path");
        self.segments(request.raw_http_path())?
            .into_iter()
            .find(|(segment, _)| *segment == name)
            .map(|(_, value)| value.to_owned())
    }

    /// The id a request for an `{id}` route names (see [`Endpoint::parameter`]).
    pub fn id(&self, request: &Request) -> Option<String> {
        self.parameter(request, "id")
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::Request as HttpRequest;

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
    fn a_route_by_pk_owns_any_one_segment_there_and_its_fixed_segments_only() {
        let user = Endpoint::get_patch_delete("User", "/account/admin/users/{pk}");
        let sign_out = Endpoint::post("Sign Out", "/account/admin/users/{pk}/sign-out");
        for path in [
            "/account/admin/users/7",
            "/account/admin/users/7/",
            "/account/admin/users/x7/",
        ] {
            assert!(user.owns(path), "{path}");
        }
        for path in [
            "/account/admin/users/",
            "/account/admin/users//",
            "/account/admin/users/7/sign-out/",
            "/account/admin/user/7/",
        ] {
            assert!(!user.owns(path), "{path}");
        }
        assert!(sign_out.owns("/account/admin/users/7/sign-out/") && sign_out.owns("/account/admin/users/7/sign-out"));
        assert!(!sign_out.owns("/account/admin/users/7/") && !sign_out.owns("/account/admin/users/7/sign-in/"));
        assert_eq!(
            sign_out.segments("/account/admin/users/42/sign-out/"),
            Some(vec![("pk", "42")])
        );
    }
}
