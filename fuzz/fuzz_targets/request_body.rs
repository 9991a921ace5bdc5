//! Any body under any content type, through the parsing every POST route does, then through
//! each field rule: an answer (value or contract error) for every input, never a panic.

#![no_main]

use lambda_http::Body;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=x"),
    Some("application/xml"),
    Some("APPLICATION/JSON; charset=latin-1"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let mut builder = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/account/join/");
    if let Some(content_type) = CONTENT_TYPES[usize::from(selector & 7)] {
        builder = builder.header("content-type", content_type);
    }
    // API Gateway hands text bodies over as text, others base64-decoded as bytes.
    let body = match (selector & 8, std::str::from_utf8(bytes)) {
        (0, Ok(text)) => Body::Text(text.to_owned()),
        _ => Body::Binary(bytes.to_vec()),
    };
    let Ok(request) = builder.body(body) else {
        return;
    };
    if let Ok(object) = shared::http::input::body_object(&request) {
        let mut fields = shared::http::input::Fields::new(&object);
        let _ = fields.email("email", true, false);
        let _ = fields.password("password1", None);
        let _ = fields.password("new_password1", Some(128));
        let _ = fields.string("first_name", false, true, Some(150));
        let _ = fields.choice("gender", &["male", "female", "other"]);
        let _ = fields.date_of_birth("date_of_birth", shared::http::input::today_utc());
        let _ = fields.errors.into_result();
    }
});
