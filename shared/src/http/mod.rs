//! The HTTP edge every function shares: the one error type and its answers, which requests an
//! endpoint admits, how answers and cookies are written, how bodies and headers are read, CORS.

pub mod bearer;
pub mod cookies;
pub mod cors;
pub mod device;
pub mod endpoint;
pub mod error;
pub mod input;
pub mod pages;
pub mod response;

pub use bearer::bearer_token;
pub use cookies::{ACCESS_COOKIE, REFRESH_COOKIE, expired_cookie, request_cookie, token_cookie, with_cookies};
pub use endpoint::{Endpoint, Methods, finish, is_cross_site, serve};
pub use error::{AccessDenied, ApiError, FieldErrors, NON_FIELD_ERRORS, RefreshDenied, VerifyDenied};
pub use response::{json_response, no_content};
