//! Requests as the deployed API hands them to a function (API Gateway REST API events, parsed
//! by `lambda_http` itself), and what tests read off the answers: the JSON body, a header, the
//! cookies set.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// An API Gateway REST API (payload 1.0) Lambda proxy event, as the deployed front door sends
/// it (stage `api`, resource as the template declares it), parsed into a request by
/// `lambda_http` itself. `cargo lambda watch` sends HTTP API (2.0) events: the end-to-end tests
/// cover those.
pub fn event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Request {
    let event = rest_event_json(method, path, headers, body);
    lambda_http::request::from_str(&event.to_string()).expect("a well-formed REST API event")
}

/// The JSON of that event, as Lambda hands it to a function (the bench's Runtime API sends it).
pub fn rest_event_json(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    // A query string goes into the parameter maps, decoded, as API Gateway passes it: the last
    // value of a repeated name in the single-value map, all of them in the multi-value one.
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("a well-formed query string");
    let (mut single_query, mut multi_query) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in pairs {
        single_query.insert(name.clone(), Value::String(value.clone()));
        match multi_query.entry(name).or_insert_with(|| json!([])) {
            Value::Array(values) => values.push(Value::String(value)),
            _ => unreachable!("only arrays are inserted"),
        }
    }
    let (single_query, multi_query) = match single_query.is_empty() {
        true => (Value::Null, Value::Null),
        false => (Value::Object(single_query), Value::Object(multi_query)),
    };
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in headers {
        single.insert((*name).to_owned(), Value::String((*value).to_owned()));
        multi.insert((*name).to_owned(), json!([value]));
    }
    // The REST API matches `/x/` to the resource `/x`. Handlers route on `path`, never on
    // `resource`, so unknown paths need not name the `{proxy+}` resource here.
    let resource = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.execute-api.eu-west-1.amazonaws.com",
            "httpMethod": method,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"},
            "path": format!("/api{path}"),
            "protocol": "HTTP/1.1",
            "requestId": "test-request",
            "requestTime": "26/Nov/2026:12:00:00 +0000",
            "requestTimeEpoch": 1795694400000_i64,
            "resourceId": "abc123",
            "resourcePath": resource,
            "stage": "api"
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A POST with a JSON body.
pub fn post_json(path: &str, body: &Value, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    event("POST", path, &all, Some(&body.to_string()))
}

/// The JSON body of a response.
pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

/// The body of a response as text, whatever it holds (for failure messages).
pub fn body_text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}

/// One header of a response, as text.
pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}

/// The `Set-Cookie` header that sets (or deletes) the cookie `name`, if any.
pub fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    set_cookies(response)
        .into_iter()
        .find(|cookie| cookie.starts_with(&prefix))
}

/// The attributes of a `Set-Cookie` value, after `name=value`.
pub fn cookie_attributes(cookie: &str) -> Vec<&str> {
    cookie.split("; ").skip(1).collect()
}
