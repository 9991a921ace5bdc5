//! The one error type of the service, and the one place it becomes an HTTP answer.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

use super::response::json_response;
use crate::store::StoreError;

/// Validation errors keyed by request field, in the order they were found
/// (`{"email": ["..."], "non_field_errors": ["..."]}`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors(Map<String, Value>);

pub const NON_FIELD_ERRORS: &str = "non_field_errors";

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One error under one field.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(messages) = entry {
            messages.push(Value::String(message.into()));
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was found, the 400 otherwise.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self))
        }
    }
}

/// Why a bearer access token did not authenticate (contract §2, protected routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessDenied {
    NoCredentials,
    BadHeader,
    Invalid,
    Expired,
    WrongType,
    UserNotFound,
    /// The user was deactivated (simplejwt's `user_inactive`).
    Inactive,
}

/// Why a refresh token was refused (token/refresh and logout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDenied {
    Missing,
    Invalid,
    Expired,
    WrongType,
    /// Revoked by logout, password change or reuse detection; or already spent.
    Blacklisted,
    /// The token is sound but its user is gone or deactivated.
    NoActiveAccount,
}

/// Why token/verify refused a token of either kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyDenied {
    Invalid,
    Expired,
    /// Its session was revoked (logout, reuse, password change), or it is a spent refresh token.
    Blacklisted,
    /// The token is sound but its user is gone or deactivated.
    UserNotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("malformed JSON")]
    JsonParse(String),
    #[error("JSON body is not an object")]
    NotAnObject(&'static str),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("request body too large")]
    BodyTooLarge,
    #[error("method not allowed")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("not found")]
    NotFound,
    /// A browser request from a site we do not trust, acting on cookies (`crate::http`'s
    /// cross-site check): DRF's CSRF refusal.
    #[error("cross-site request refused")]
    CrossSite,
    /// Authenticated, but not allowed to do this (DRF's `PermissionDenied`): an admin route
    /// asked for by anyone but an active staff user.
    #[error("permission denied")]
    Forbidden,
    /// A request the rules refuse as a whole (400 with a `detail`): an admin acting on
    /// themself, or on the last active superuser.
    #[error("refused: {0}")]
    Refused(&'static str),
    /// The resource changed between this request's read and its write (409): read it again and
    /// retry.
    #[error("conflict")]
    Conflict,
    #[error("access denied: {0:?}")]
    Access(AccessDenied),
    #[error("refresh denied: {0:?}")]
    Refresh(RefreshDenied),
    #[error("logout denied: {0:?}")]
    Logout(RefreshDenied),
    #[error("token refused: {0:?}")]
    Verify(VerifyDenied),
    #[error("store unavailable")]
    Unavailable,
    /// Too many failed logins for the email: refused for this many more seconds.
    #[error("throttled")]
    Throttled(i64),
    #[error("internal error")]
    Internal,
}

impl From<crate::tokens::SigningFailed> for ApiError {
    fn from(_: crate::tokens::SigningFailed) -> Self {
        tracing::error!("token signing failed");
        ApiError::Internal
    }
}

impl From<StoreError> for ApiError {
    /// The cause is logged here, once; the answer never carries it.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Other(_) => {
                tracing::error!(%error, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "1";

fn user_not_found() -> Value {
    json!({"detail": "User not found", "code": "user_not_found"})
}

fn token_not_valid(message: &str) -> Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
}

impl ApiError {
    /// The contract's answer for this error: status, body and headers, in one place.
    pub fn into_response(self) -> Response<Body> {
        let mut bearer_challenge = false;
        let mut extra: Option<(header::HeaderName, HeaderValue)> = None;
        let (status, body) = match self {
            ApiError::Validation(errors) => (StatusCode::BAD_REQUEST, Value::Object(errors.0)),
            ApiError::JsonParse(message) => (
                StatusCode::BAD_REQUEST,
                json!({"detail": format!("JSON parse error - {message}")}),
            ),
            ApiError::NotAnObject(type_name) => (
                StatusCode::BAD_REQUEST,
                json!({NON_FIELD_ERRORS: [format!("Invalid data. Expected a dictionary, but got {type_name}.")]}),
            ),
            ApiError::UnsupportedMediaType(media_type) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"detail": format!("Unsupported media type \"{media_type}\" in request.")}),
            ),
            ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"detail": "Request body too large."}),
            ),
            ApiError::MethodNotAllowed { method, allow } => {
                extra = Some((header::ALLOW, HeaderValue::from_static(allow)));
                (
                    StatusCode::METHOD_NOT_ALLOWED,
                    json!({"detail": format!("Method \"{method}\" not allowed.")}),
                )
            }
            ApiError::NotFound => (StatusCode::NOT_FOUND, json!({"detail": "Not found."})),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"detail": "You do not have permission to perform this action."}),
            ),
            ApiError::Refused(detail) => (StatusCode::BAD_REQUEST, json!({"detail": detail})),
            ApiError::Conflict => (
                StatusCode::CONFLICT,
                json!({"detail": "The user was changed by someone else meanwhile: read it again and retry."}),
            ),
            // Django's reason, without the origin itself: no answer carries input back.
            ApiError::CrossSite => (
                StatusCode::FORBIDDEN,
                json!({"detail": "CSRF Failed: Origin checking failed - the request's origin is not a trusted origin."}),
            ),
            ApiError::Access(denied) => {
                bearer_challenge = true;
                let body = match denied {
                    AccessDenied::NoCredentials => {
                        json!({"detail": "Authentication credentials were not provided."})
                    }
                    AccessDenied::BadHeader => json!({
                        "detail": "Authorization header must contain two space-delimited values",
                        "code": "bad_authorization_header",
                    }),
                    AccessDenied::Invalid => token_not_valid("Token is invalid"),
                    AccessDenied::Expired => token_not_valid("Token is expired"),
                    AccessDenied::WrongType => token_not_valid("Token has wrong type"),
                    AccessDenied::UserNotFound => user_not_found(),
                    AccessDenied::Inactive => json!({"detail": "User is inactive", "code": "user_inactive"}),
                };
                (StatusCode::UNAUTHORIZED, body)
            }
            ApiError::Refresh(denied) => {
                bearer_challenge = true;
                let (detail, code) = match denied {
                    RefreshDenied::Missing => ("No valid refresh token found.", "token_not_valid"),
                    RefreshDenied::Invalid => ("Token is invalid", "token_not_valid"),
                    RefreshDenied::Expired => ("Token is expired", "token_not_valid"),
                    RefreshDenied::WrongType => ("Token has wrong type", "token_not_valid"),
                    RefreshDenied::Blacklisted => ("Token is blacklisted", "token_not_valid"),
                    RefreshDenied::NoActiveAccount => {
                        ("No active account found for the given credentials", "no_active_account")
                    }
                };
                (StatusCode::UNAUTHORIZED, json!({"detail": detail, "code": code}))
            }
            ApiError::Verify(denied) => {
                bearer_challenge = true;
                let refused = |detail: &str| json!({"detail": detail, "code": "token_not_valid"});
                let body = match denied {
                    VerifyDenied::Invalid => refused("Token is invalid"),
                    VerifyDenied::Expired => refused("Token is expired"),
                    VerifyDenied::Blacklisted => refused("Token is blacklisted"),
                    // As mypage answers for the same user.
                    VerifyDenied::UserNotFound => user_not_found(),
                };
                (StatusCode::UNAUTHORIZED, body)
            }
            ApiError::Logout(denied) => {
                let detail = match denied {
                    RefreshDenied::Missing => "Refresh token was not included in request data.",
                    RefreshDenied::Invalid | RefreshDenied::NoActiveAccount => "Token is invalid",
                    RefreshDenied::Expired => "Token is expired",
                    RefreshDenied::WrongType => "Token has wrong type",
                    RefreshDenied::Blacklisted => "Token is blacklisted",
                };
                (StatusCode::UNAUTHORIZED, json!({"detail": detail}))
            }
            ApiError::Unavailable => {
                extra = Some((header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS)));
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"detail": "Service temporarily unavailable."}),
                )
            }
            ApiError::Throttled(seconds) => {
                // DRF's throttling answer, word for word (its `ngettext`: "1 second").
                let seconds = seconds.max(1);
                let unit = if seconds == 1 { "second" } else { "seconds" };
                extra = Some((header::RETRY_AFTER, HeaderValue::from(seconds)));
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"detail": format!("Request was throttled. Expected available in {seconds} {unit}.")}),
                )
            }
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"detail": "Internal server error."}),
            ),
        };
        let mut response = json_response(status, &body);
        let headers = response.headers_mut();
        if bearer_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api\""),
            );
        }
        if let Some((name, value)) = extra {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn field_errors_keep_their_order_and_collect_messages() {
        let mut errors = FieldErrors::new();
        errors.add("password1", "a");
        errors.add("email", "b");
        errors.add("password1", "c");
        let response = ApiError::Validation(errors).into_response();
        assert_eq!(response.status(), 400);
        let text = std::str::from_utf8(response.body().as_ref()).unwrap().to_owned();
        assert_eq!(text, r#"{"password1":["a","c"],"email":["b"]}"#);
    }

    // The wording is checked here, on the error itself: a handler test would need a lockout
    // with exactly one second left, a real-time window a slow machine can miss.
    #[test]
    fn a_throttle_says_second_or_seconds_as_drf_does() {
        for (seconds, said, retry_after) in [(1, "1 second", "1"), (0, "1 second", "1"), (2, "2 seconds", "2")] {
            let response = ApiError::Throttled(seconds).into_response();
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()[header::RETRY_AFTER], retry_after);
            assert_eq!(
                body_of(&response),
                json!({"detail": format!("Request was throttled. Expected available in {said}.")})
            );
        }
    }

    #[test]
    fn access_errors_carry_the_bearer_challenge() {
        let response = ApiError::Access(AccessDenied::Expired).into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        assert_eq!(body_of(&response)["messages"][0]["message"], "Token is expired");
    }

    #[test]
    fn verify_errors_carry_the_challenge_and_refresh_shaped_bodies() {
        let response = ApiError::Verify(VerifyDenied::Blacklisted).into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        assert_eq!(
            body_of(&response),
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        );
        let response = ApiError::Verify(VerifyDenied::UserNotFound).into_response();
        assert_eq!(
            body_of(&response),
            json!({"detail": "User not found", "code": "user_not_found"})
        );
    }

    #[test]
    fn logout_errors_carry_no_challenge() {
        let response = ApiError::Logout(RefreshDenied::Blacklisted).into_response();
        assert_eq!(response.status(), 401);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body_of(&response), json!({"detail": "Token is blacklisted"}));
    }

    #[test]
    fn unavailable_says_when_to_retry_and_nothing_else() {
        let response = ApiError::from(StoreError::Unavailable("socket closed".into())).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            body_of(&response),
            json!({"detail": "Service temporarily unavailable."})
        );
    }
}
