//! The bearer token of a protected route's request, read as simplejwt reads it.

use lambda_http::Request;
use lambda_http::http::header;

use super::error::AccessDenied;

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
    use lambda_http::Body;
    use lambda_http::http::Request as HttpRequest;

    fn request_with(header_name: header::HeaderName, value: &str) -> Request {
        HttpRequest::builder()
            .header(header_name, value)
            .body(Body::Empty)
            .unwrap()
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
}
