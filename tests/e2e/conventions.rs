//! Contract §1: what every route does, whatever the route — trailing slashes, methods, bodies,
//! 404s, and the headers of every answer.

use e2e::*;
use serde_json::{Value, json};

/// `path` without its trailing slash.
fn bare(path: &str) -> &str {
    path.strip_suffix('/').expect("routes end with a slash")
}

/// Both spellings of a route.
fn spellings(path: &str) -> [&str; 2] {
    [path, bare(path)]
}

/// The headers that let a request reach the route's body parsing: password/change, user,
/// user/delete and sessions/revoke-others authenticate first, so they get a live bearer.
async fn headers_for(path: &str) -> Vec<(&'static str, String)> {
    if BEARER_POST_ROUTES.contains(&path) || path == USER {
        vec![("authorization", new_user().await.bearer())]
    } else {
        Vec::new()
    }
}

async fn post_with(path: &str, content_type: &str, body: &str) -> Answer {
    let extra = headers_for(path).await;
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_raw(path, content_type, body, &extra).await
}

#[tokio::test]
async fn options_answers_200_with_the_allow_header_on_every_route() {
    for (path, _, allow) in ROUTES {
        for path in spellings(path) {
            let answer = send("OPTIONS", path, &[], None).await;
            assert_eq!(answer.status, 200, "OPTIONS {path}: {}", answer.text);
            assert_eq!(answer.header("allow"), Some(allow), "OPTIONS {path}");
        }
    }
}

#[tokio::test]
async fn wrong_methods_on_post_routes_get_405_with_allow() {
    for path in POST_ROUTES {
        for path in spellings(path) {
            for method in ["GET", "PUT", "PATCH", "DELETE"] {
                let answer = send(method, path, &[], None).await;
                answer.expect(405, json!({"detail": format!("Method \"{method}\" not allowed.")}));
                assert_eq!(answer.header("allow"), Some("POST, OPTIONS"), "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn wrong_methods_on_mypage_get_405_with_allow() {
    let session = new_user().await;
    for path in spellings(MYPAGE) {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let answer = send(
                method,
                path,
                &[
                    ("authorization", &session.bearer()),
                    ("content-type", "application/json"),
                ],
                Some("{}".to_owned()),
            )
            .await;
            answer.expect(405, json!({"detail": format!("Method \"{method}\" not allowed.")}));
            assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn wrong_methods_on_user_get_405_with_allow() {
    let session = new_user().await;
    for path in spellings(USER) {
        for method in ["POST", "DELETE"] {
            let answer = send(
                method,
                path,
                &[
                    ("authorization", &session.bearer()),
                    ("content-type", "application/json"),
                ],
                Some("{}".to_owned()),
            )
            .await;
            answer.expect(405, json!({"detail": format!("Method \"{method}\" not allowed.")}));
            assert_eq!(
                answer.header("allow"),
                Some("GET, PUT, PATCH, HEAD, OPTIONS"),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn head_is_not_allowed_on_post_routes() {
    for path in POST_ROUTES {
        for path in spellings(path) {
            let answer = send("HEAD", path, &[], None).await;
            assert_eq!(answer.status, 405, "HEAD {path}");
            assert_eq!(answer.header("allow"), Some("POST, OPTIONS"), "HEAD {path}");
            assert_eq!(answer.text, "", "HEAD {path} has no body");
        }
    }
}

#[tokio::test]
async fn head_on_mypage_answers_like_get_without_a_body() {
    let session = new_user().await;
    for path in spellings(MYPAGE) {
        let answer = send("HEAD", path, &[("authorization", &session.bearer())], None).await;
        assert_eq!(answer.status, 200, "HEAD {path}");
        assert_eq!(answer.text, "", "HEAD {path} has no body");

        let refused = send("HEAD", path, &[], None).await;
        assert_eq!(refused.status, 401, "HEAD {path} without credentials");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer realm=\"api\""));
        assert_eq!(refused.text, "");
    }
}

#[tokio::test]
async fn head_on_user_answers_like_get_without_a_body() {
    let session = new_user().await;
    for path in spellings(USER) {
        let answer = send("HEAD", path, &[("authorization", &session.bearer())], None).await;
        assert_eq!(answer.status, 200, "HEAD {path}");
        assert_eq!(answer.text, "", "HEAD {path} has no body");
        assert_eq!(answer.header("allow"), Some("GET, PUT, PATCH, HEAD, OPTIONS"));

        let refused = send("HEAD", path, &[], None).await;
        assert_eq!(refused.status, 401, "HEAD {path} without credentials");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer realm=\"api\""));
        assert_eq!(refused.text, "");
    }
}

/// PUT and PATCH of user read their bodies by the rules of every POST route (after
/// authentication, which comes first).
#[tokio::test]
async fn user_updates_read_bodies_by_the_contract_rules() {
    let session = new_user().await;
    let bearer = session.bearer();
    for method in ["PUT", "PATCH"] {
        let with = |content_type: &'static str, body: String| {
            let bearer = bearer.clone();
            async move {
                send(
                    method,
                    USER,
                    &[("authorization", &bearer), ("content-type", content_type)],
                    Some(body),
                )
                .await
            }
        };
        with("text/plain", "hello".to_owned()).await.expect(
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."}),
        );
        let malformed = with("application/json", "{\"first_name\":".to_owned()).await;
        assert_eq!(malformed.status, 400, "{}", malformed.text);
        assert!(
            malformed.json()["detail"]
                .as_str()
                .is_some_and(|detail| detail.starts_with("JSON parse error - ")),
            "{}",
            malformed.text
        );
        with("application/json", "[]".to_owned()).await.expect(
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        );
        with("application/json", json_of_size(64 * 1024 + 1))
            .await
            .expect(413, json!({"detail": "Request body too large."}));
        send(method, USER, &[("authorization", &bearer)], Some("hello".to_owned()))
            .await
            .expect(415, json!({"detail": "Unsupported media type \"\" in request."}));
    }
    // Without credentials, authentication answers first, whatever the body.
    send("PATCH", USER, &[("content-type", "text/plain")], Some("x".to_owned()))
        .await
        .expect_challenge(no_credentials());
}

#[tokio::test]
async fn unknown_paths_under_account_are_json_404s() {
    let paths = [
        "/account/nope",
        "/account/nope/",
        "/account/signup/",
        "/account/token",
        "/account/token/",
        "/account/token/verify/x",
        "/account/token/verify/x/",
        "/account/password",
        "/account/password/reset/confirm/extra/",
        "/account/login/extra",
        "/account/login/extra/",
        "/account/join/x/",
        "/account/mypage/more",
        "/account/mypage/more/",
        "/account/logout/now/",
        "/account/password/change/again/",
        "/account/token/refresh/x",
        "/account/users/",
        "/account/user/me/",
        "/account/user/1",
    ];
    for path in paths {
        for method in ["GET", "POST", "DELETE"] {
            let answer = send(
                method,
                path,
                &[("content-type", "application/json")],
                Some("{}".to_owned()),
            )
            .await;
            answer.expect(404, json!({"detail": "Not found."}));
        }
    }
}

#[tokio::test]
async fn the_account_root_is_a_json_404() {
    for path in ["/account/", "/account"] {
        get(path, &[]).await.expect(404, json!({"detail": "Not found."}));
    }
}

#[tokio::test]
async fn another_content_type_with_a_body_is_415_on_every_post_route() {
    for path in POST_ROUTES {
        for (content_type, body) in [("text/plain", "hello"), ("application/xml", "<a/>")] {
            post_with(path, content_type, body).await.expect(
                415,
                json!({"detail": format!("Unsupported media type \"{content_type}\" in request.")}),
            );
        }
    }
}

#[tokio::test]
async fn a_body_without_content_type_is_415() {
    for path in POST_ROUTES {
        let extra = headers_for(path).await;
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        send("POST", path, &extra, Some("hello".to_owned()))
            .await
            .expect(415, json!({"detail": "Unsupported media type \"\" in request."}));
    }
}

#[tokio::test]
async fn no_body_is_an_empty_object_whatever_the_content_type() {
    let answer = post_raw(JOIN, "text/plain", "", &[]).await;
    answer.expect(
        400,
        json!({
            "email": ["This field is required."],
            "password1": ["This field is required."],
            "password2": ["This field is required."],
        }),
    );
    let answer = send("POST", LOGIN, &[], None).await;
    answer.expect(400, json!({"password": ["This field is required."]}));
}

#[tokio::test]
async fn malformed_json_is_400_on_every_post_route() {
    for path in POST_ROUTES {
        for body in ["{\"email\":", "{'a': 1}", "not json", "{\"a\":1}}"] {
            let answer = post_with(path, "application/json", body).await;
            assert_eq!(answer.status, 400, "{path} {body}: {}", answer.text);
            let json = answer.json();
            let object = json.as_object().expect("an object");
            assert_eq!(object.len(), 1, "{path} {body}: {}", answer.text);
            let detail = object["detail"].as_str().expect("a detail");
            assert!(
                detail.starts_with("JSON parse error - ") && detail.len() > 19,
                "{path} {body}: {detail}"
            );
        }
    }
}

#[tokio::test]
async fn json_that_is_not_an_object_is_400_on_every_post_route() {
    for path in POST_ROUTES {
        for (body, type_name) in [
            ("[]", "list"),
            ("[{\"refresh\":\"x\"}]", "list"),
            ("\"text\"", "str"),
            ("42", "int"),
            ("4.5", "float"),
            ("true", "bool"),
        ] {
            post_with(path, "application/json", body).await.expect(
                400,
                json!({"non_field_errors": [
                    format!("Invalid data. Expected a dictionary, but got {type_name}.")
                ]}),
            );
        }
    }
}

/// A JSON object of exactly `size` bytes.
fn json_of_size(size: usize) -> String {
    let overhead = "{\"padding\":\"\"}".len();
    let body = format!("{{\"padding\":\"{}\"}}", "x".repeat(size - overhead));
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_on_every_post_route() {
    for path in POST_ROUTES {
        post_with(path, "application/json", &json_of_size(64 * 1024 + 1))
            .await
            .expect(413, json!({"detail": "Request body too large."}));
        let form = format!("padding={}", "x".repeat(64 * 1024));
        post_with(path, "application/x-www-form-urlencoded", &form)
            .await
            .expect(413, json!({"detail": "Request body too large."}));
    }
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_read() {
    let answer = post_raw(JOIN, "application/json", &json_of_size(64 * 1024), &[]).await;
    answer.expect(
        400,
        json!({
            "email": ["This field is required."],
            "password1": ["This field is required."],
            "password2": ["This field is required."],
        }),
    );
}

#[tokio::test]
async fn json_with_a_charset_parameter_is_json() {
    let email = unique_email();
    let body = signup(&email).to_string();
    let answer = post_raw(JOIN, "application/json; charset=utf-8", &body, &[]).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let login_body = json!({"email": email, "password": PASSWORD}).to_string();
    let answer = post_raw(LOGIN, "application/json; charset=UTF-8", &login_body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn non_ascii_is_sent_unescaped() {
    let email = unique_email();
    let answer = post_json(JOIN, signup_with(&email, json!({"first_name": "길동"}))).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert!(answer.text.contains("\"first_name\":\"길동\""), "{}", answer.text);
    let session = login(&email).await;
    let page = mypage(&session.bearer()).await;
    assert_greeted(&page, &email);
    assert!(page.text.contains("반갑습니다"), "{}", page.text);
    assert!(!page.text.contains("\\u"), "{}", page.text);
}

/// Every kind of answer, success and error, carries the §1 headers (checked by `send`
/// on every request of the suite; here each kind once, explicitly).
#[tokio::test]
async fn security_headers_are_on_every_kind_of_answer() {
    let email = unique_email();
    let mut answers: Vec<Answer> = Vec::new();
    answers.push(post_json(JOIN, signup(&email)).await);
    answers.push(post_json(LOGIN, json!({"email": email, "password": PASSWORD})).await);
    let session = login(&email).await;
    answers.push(mypage(&session.bearer()).await);
    let refreshed = refresh(&session.refresh).await;
    let (access, refresh_token) = rotated(&refreshed);
    answers.push(refreshed);
    answers.push(change_password(&bearer(&access), new_password_body()).await);
    answers.push(logout(&refresh_token).await);
    answers.push(post_json(JOIN, json!({})).await);
    answers.push(get(MYPAGE, &[]).await);
    answers.push(refresh("garbage").await);
    answers.push(get("/account/nope/", &[]).await);
    answers.push(get(LOGIN, &[]).await);
    answers.push(post_raw(LOGIN, "text/plain", "x", &[]).await);
    answers.push(post_raw(LOGIN, "application/json", &json_of_size(70_000), &[]).await);
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(
        statuses,
        [201, 200, 200, 200, 200, 200, 400, 401, 401, 404, 405, 415, 413]
    );
    for answer in &answers {
        assert_conventions(answer);
    }
}

// --- Every route with and without the trailing slash -----------------------------------------

#[tokio::test]
async fn join_answers_with_and_without_the_trailing_slash() {
    for path in spellings(JOIN) {
        let answer = post_json(path, signup(&unique_email())).await;
        assert_eq!(answer.status, 201, "{path}: {}", answer.text);
    }
}

#[tokio::test]
async fn login_answers_with_and_without_the_trailing_slash() {
    let email = unique_email();
    join(&email).await;
    for path in spellings(LOGIN) {
        let answer = post_json(path, json!({"email": email, "password": PASSWORD})).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert!(answer.cookie("my-app-auth").is_some(), "{path}");
    }
}

#[tokio::test]
async fn refresh_answers_with_and_without_the_trailing_slash() {
    let session = new_user().await;
    let mut token = session.refresh;
    for path in spellings(REFRESH) {
        let answer = post_json(path, json!({"refresh": token})).await;
        token = rotated(&answer).1;
    }
}

#[tokio::test]
async fn logout_answers_with_and_without_the_trailing_slash() {
    let email = unique_email();
    join(&email).await;
    for path in spellings(LOGOUT) {
        let session = login(&email).await;
        post_json(path, json!({"refresh": session.refresh}))
            .await
            .expect(200, json!({"detail": "Successfully logged out."}));
    }
}

#[tokio::test]
async fn password_change_answers_with_and_without_the_trailing_slash() {
    let session = new_user().await;
    for (path, (old, new)) in spellings(PASSWORD_CHANGE).into_iter().zip([
        (PASSWORD, "First-New-Pw!8812"),
        ("First-New-Pw!8812", "Second-New-Pw!4471"),
    ]) {
        let body = password_change_body(old, new);
        post_json_with(path, body, &[("authorization", &session.bearer())])
            .await
            .expect(200, json!({"detail": "New password has been saved."}));
    }
    login_with(&session.email, "Second-New-Pw!4471").await;
}

#[tokio::test]
async fn token_verify_answers_with_and_without_the_trailing_slash() {
    let session = new_user().await;
    for path in spellings(VERIFY) {
        for token in [&session.access, &session.refresh] {
            post_json(path, json!({"token": token})).await.expect(200, json!({}));
        }
    }
}

#[tokio::test]
async fn user_answers_with_and_without_the_trailing_slash() {
    let session = new_user().await;
    let bearer = session.bearer();
    let mut expected = session.user.clone();
    for path in spellings(USER) {
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        for method in ["PUT", "PATCH"] {
            let name = format!("{method} {path}");
            expected["first_name"] = json!(name);
            send(method, path, &headers, Some(json!({"first_name": name}).to_string()))
                .await
                .expect(200, expected.clone());
            get(path, &[("authorization", &bearer)])
                .await
                .expect(200, expected.clone());
        }
    }
}

#[tokio::test]
async fn mypage_answers_with_and_without_the_trailing_slash() {
    let session = new_user().await;
    for path in spellings(MYPAGE) {
        let answer = get(path, &[("authorization", &session.bearer())]).await;
        assert_greeted(&answer, &session.email);
    }
}

#[tokio::test]
async fn validation_errors_are_lists_of_strings_keyed_by_field() {
    let answer = post_json(
        JOIN,
        json!({"email": "bad", "password1": "short", "password2": "short", "gender": "robot"}),
    )
    .await;
    assert_eq!(answer.status, 400);
    let body = answer.json();
    let object = body.as_object().expect("an object");
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "gender", "password1"]);
    for (field, messages) in object {
        let messages = messages.as_array().expect("a list");
        assert!(
            !messages.is_empty() && messages.iter().all(Value::is_string),
            "{field}: {messages:?}"
        );
    }
}

/// Whatever the deployment allows, an origin it was never told of gets no CORS answer, so a
/// browser keeps that page from reading anything (tokens, user data).
#[tokio::test]
async fn an_unknown_origin_gets_no_cors_headers() {
    let evil = [("origin", "https://evil.example.net")];
    let preflight = [
        ("origin", "https://evil.example.net"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type"),
    ];
    let session = new_user().await;
    for answer in [
        send("OPTIONS", LOGIN, &preflight, None).await,
        post_json_with(LOGIN, json!({"email": session.email, "password": PASSWORD}), &evil).await,
        get(
            MYPAGE,
            &[
                ("origin", "https://evil.example.net"),
                ("authorization", &session.bearer()),
            ],
        )
        .await,
    ] {
        let cors: Vec<_> = answer
            .headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{} {}: {cors:?}", answer.method, answer.path);
    }
}

/// Another site's page cannot act on a visitor's cookies: a refresh or a logout by the refresh
/// cookie, and a login (login CSRF), sent from an untrusted origin are refused with 403 and
/// change nothing, cookies included; the same requests without a browser's Origin go through.
#[tokio::test]
async fn a_cross_site_request_acts_on_no_cookie() {
    let session = new_user().await;
    let cookie = format!("my-refresh-token={}", session.refresh);
    let evil = [("origin", "https://evil.example.net"), ("cookie", cookie.as_str())];
    let refused =
        json!({"detail": "CSRF Failed: Origin checking failed - the request's origin is not a trusted origin."});
    for path in [REFRESH, LOGOUT] {
        let answer = send("POST", path, &evil, None).await;
        answer.expect(403, refused.clone());
        assert!(answer.set_cookies().is_empty(), "{path} touched the cookies");
    }
    let form = format!("email={}&password={}", form_value(&session.email), form_value(PASSWORD));
    let answer = post_form(LOGIN, &form, &[("origin", "https://evil.example.net")]).await;
    answer.expect(403, refused);
    assert!(answer.set_cookies().is_empty());
    // Nothing happened: the session is live and its refresh token unspent.
    rotated_by_cookie(&send("POST", REFRESH, &[("cookie", cookie.as_str())], None).await);
}

mod white_box {
    use super::*;

    /// An origin of the stack's `ALLOWED_ORIGINS`, as `make test` sets it.
    fn allowed_origin() -> String {
        let origins = std::env::var("ALLOWED_ORIGINS").expect("ALLOWED_ORIGINS of the running stack");
        origins.split(',').next().expect("one origin").trim().to_owned()
    }

    #[tokio::test]
    async fn an_allowed_origin_gets_a_preflight_answer_for_every_route() {
        let origin = allowed_origin();
        for (path, _, allow) in ROUTES {
            for path in [path, path.trim_end_matches('/')] {
                let headers = [
                    ("origin", origin.as_str()),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "authorization,content-type"),
                ];
                let answer = send("OPTIONS", path, &headers, None).await;
                assert_eq!(answer.status, 200, "OPTIONS {path}");
                assert_eq!(
                    answer.header("access-control-allow-origin"),
                    Some(origin.as_str()),
                    "{path}"
                );
                assert_eq!(
                    answer.header("access-control-allow-credentials"),
                    Some("true"),
                    "{path}"
                );
                assert_eq!(answer.header("access-control-allow-methods"), Some(allow), "{path}");
                assert_eq!(
                    answer.header("access-control-allow-headers"),
                    Some("authorization, content-type"),
                    "{path}"
                );
                assert_eq!(answer.header("vary"), Some("Origin"), "{path}");
            }
        }
    }

    /// A page of an allowed origin reads the answer and the headers it needs: the 401's
    /// challenge and a 429's wait.
    #[tokio::test]
    async fn an_allowed_origin_reads_answers_and_their_exposed_headers() {
        let origin = allowed_origin();
        let session = new_user().await;
        let bearer = session.bearer();
        for answer in [
            get(MYPAGE, &[("origin", &origin), ("authorization", &bearer)]).await,
            get(MYPAGE, &[("origin", &origin)]).await,
            post_json_with(
                LOGIN,
                json!({"email": session.email, "password": PASSWORD}),
                &[("origin", &origin)],
            )
            .await,
        ] {
            let context = format!("{} {} ({})", answer.method, answer.path, answer.status);
            assert_eq!(
                answer.header("access-control-allow-origin"),
                Some(origin.as_str()),
                "{context}"
            );
            assert_eq!(
                answer.header("access-control-allow-credentials"),
                Some("true"),
                "{context}"
            );
            assert_eq!(
                answer.header("access-control-expose-headers"),
                Some("Retry-After, WWW-Authenticate"),
                "{context}"
            );
            assert_eq!(
                answer.header("access-control-allow-methods"),
                None,
                "{context}: not a preflight"
            );
        }
    }
}
