//! Handler tests for GET /account/sessions/ and DELETE /account/sessions/{id}/ over the memory
//! store (issue 13: a user's sessions listed, newest first, live ones only; one ended by id,
//! another user's or an unknown id the same 404), with REST API events as AWS sends them.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use sessions::{ITEM, LIST, handle};
use shared::App;
use shared::account::MAX_LISTED_SESSIONS as MAX_LISTED;
use shared::ids::random_id;
use shared::store::{MemoryStore, SessionListStore, SessionOrigin, SessionStore};
use shared::testing::{
    PASSWORD, app, assert_401, assert_no_content, assert_not_found, assert_security_headers, assert_unavailable,
    bearer, body_json, event, header, join_user, refused_authorizations, rest_event_json, start_session,
    start_session_at, token_not_valid, user_inactive, user_not_found,
};

const LIST_PATH: &str = "/account/sessions/";

fn origin(device: &str, ip: &str) -> SessionOrigin {
    SessionOrigin {
        device: device.to_owned(),
        ip: Some(ip.to_owned()),
    }
}

fn item_path(id: &str) -> String {
    format!("/account/sessions/{id}/")
}

async fn list(app: &App<MemoryStore>, access: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(app, event("GET", LIST_PATH, &[("authorization", &authorization)], None)).await
}

async fn delete(app: &App<MemoryStore>, access: &str, path: &str) -> Response<Body> {
    let authorization = bearer(access);
    handle(app, event("DELETE", path, &[("authorization", &authorization)], None)).await
}

/// The ids of a list answer, in order.
fn ids(response: &Response<Body>) -> Vec<String> {
    assert_eq!(response.status(), 200, "{}", body_json(response));
    body_json(response)
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|session| session["id"].as_str().expect("an id").to_owned())
        .collect()
}

// --- GET: the list ------------------------------------------------------------------------------

#[tokio::test]
async fn the_list_shows_the_callers_sessions_newest_first_and_marks_the_current_one() {
    let app = app();
    let (user, _) = join_user(&app, "list@example.com", PASSWORD).await;
    let now = shared::now_unix();
    let oldest = start_session_at(&app, user.id, origin("Firefox on Linux", "203.0.113.7"), now - 300).await;
    let middle = start_session_at(&app, user.id, origin("Safari on iOS", "2001:db8::1"), now - 200).await;
    let newest = start_session_at(&app, user.id, SessionOrigin::default(), now - 100).await;

    let response = list(&app, &middle.access).await;
    assert_security_headers(&response);
    assert_eq!(header(&response, "allow"), Some("GET, HEAD, OPTIONS"));
    let body = body_json(&response);
    let sessions = body.as_array().expect("a plain JSON array");
    // join_user's own session started now, after the three.
    assert_eq!(sessions.len(), 4, "{body}");
    assert_eq!(
        sessions[1..].iter().map(|s| s["id"].clone()).collect::<Vec<_>>(),
        [&newest, &middle, &oldest].map(|s| json!(s.session_id))
    );
    let at = |seconds: i64| shared::clock::unix_timestamp(seconds);
    assert_eq!(
        sessions[3],
        json!({
            "id": oldest.session_id,
            "created": at(now - 300),
            "last_used": at(now - 300),
            "expires": at(now - 300 + 30 * 86400),
            "device": "Firefox on Linux",
            "ip": "203.0.113.7",
            "current": false,
        })
    );
    assert_eq!(sessions[2]["current"], true);
    assert_eq!(sessions[2]["ip"], "2001:db8::1");
    assert_eq!(sessions[1]["device"], "", "an unknown device is an empty label");
    assert_eq!(sessions[1]["ip"], Value::Null, "an unknown address is null");
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "exactly one is the caller's"
    );
    assert!(
        sessions[3]["created"].as_str().unwrap().ends_with('Z'),
        "ISO 8601 in UTC: {body}"
    );
}

#[tokio::test]
async fn the_list_answers_in_both_spellings_and_head_without_a_body() {
    let app = app();
    let (_, tokens) = join_user(&app, "spellings@example.com", PASSWORD).await;
    let authorization = bearer(&tokens.access);
    for path in [LIST_PATH, "/account/sessions"] {
        let response = handle(&app, event("GET", path, &[("authorization", &authorization)], None)).await;
        assert_eq!(ids(&response), std::slice::from_ref(&tokens.session_id), "{path}");
        let response = handle(&app, event("HEAD", path, &[("authorization", &authorization)], None)).await;
        assert_eq!(response.status(), 200, "HEAD {path}");
        assert!(response.body().is_empty());
    }
}

#[tokio::test]
async fn revoked_expired_and_stale_epoch_sessions_are_not_listed() {
    let app = app();
    let (user, kept) = join_user(&app, "ended@example.com", PASSWORD).await;
    let logged_out = start_session(&app, user.id).await;
    assert!(app.store.end_session(user.id, &logged_out.session_id).await.unwrap());
    // Started two days ago: its refresh token and the session's TTL time have passed.
    let expired = start_session_at(&app, user.id, SessionOrigin::default(), shared::now_unix() - 2 * 86_400).await;
    let live = start_session(&app, user.id).await;
    let mut listed = ids(&list(&app, &kept.access).await);
    listed.sort();
    let mut expected = vec![kept.session_id.clone(), live.session_id.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(
        app.store.session(user.id, &expired.session_id).is_some(),
        "stored, not listed"
    );

    // A password change from `kept` leaves `live` at the old epoch: revoked.
    assert!(
        app.store
            .change_password(user.id, &kept.session_id, 0, "h", &[])
            .await
            .unwrap()
    );
    assert_eq!(
        ids(&list(&app, &kept.access).await),
        std::slice::from_ref(&kept.session_id)
    );
}

#[tokio::test]
async fn another_users_sessions_are_never_listed() {
    let app = app();
    let (_, mine) = join_user(&app, "mine@example.com", PASSWORD).await;
    let (theirs, _) = join_user(&app, "theirs@example.com", PASSWORD).await;
    start_session(&app, theirs.id).await;
    assert_eq!(
        ids(&list(&app, &mine.access).await),
        std::slice::from_ref(&mine.session_id)
    );
}

#[tokio::test]
async fn at_most_the_newest_sessions_are_listed() {
    let app = app();
    let (user, tokens) = join_user(&app, "many@example.com", PASSWORD).await;
    let now = shared::now_unix();
    let mut started = Vec::new();
    for age in 1..=(MAX_LISTED as i64 + 5) {
        started.push(start_session_at(&app, user.id, SessionOrigin::default(), now - age).await);
    }
    let listed = ids(&list(&app, &tokens.access).await);
    assert_eq!(listed.len(), MAX_LISTED);
    assert_eq!(listed[0], tokens.session_id, "the newest, started by join just now");
    let newest_others: Vec<String> = started[..MAX_LISTED - 1].iter().map(|s| s.session_id.clone()).collect();
    assert_eq!(listed[1..], newest_others[..]);
    assert_eq!(app.store.list_sessions(user.id).await.unwrap().len(), MAX_LISTED + 6);
}

// --- DELETE: one session ended ------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_session_ends_exactly_that_session_at_once() {
    let app = app();
    let (user, caller) = join_user(&app, "end@example.com", PASSWORD).await;
    let doomed = start_session(&app, user.id).await;
    let bystander = start_session(&app, user.id).await;

    assert_no_content(&delete(&app, &caller.access, &item_path(&doomed.session_id)).await);
    assert!(app.store.session(user.id, &doomed.session_id).unwrap().revoked);
    assert_401(&list(&app, &doomed.access).await, &token_not_valid("Token is invalid"));
    let mut left = ids(&list(&app, &caller.access).await);
    left.sort();
    let mut expected = vec![caller.session_id.clone(), bystander.session_id.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(ids(&list(&app, &bystander.access).await).len(), 2, "the others live on");
}

#[tokio::test]
async fn deleting_the_callers_own_session_logs_it_out_and_a_retry_still_succeeds() {
    let app = app();
    let (user, caller) = join_user(&app, "self@example.com", PASSWORD).await;
    let other = start_session(&app, user.id).await;
    for path in [
        item_path(&caller.session_id),
        format!("/account/sessions/{}", caller.session_id),
    ] {
        let response = delete(&app, &other.access, &path).await;
        assert_no_content(&response);
    }
    assert_no_content(&delete(&app, &other.access, &item_path(&other.session_id)).await);
    assert_401(&list(&app, &other.access).await, &token_not_valid("Token is invalid"));
    assert_401(&list(&app, &caller.access).await, &token_not_valid("Token is invalid"));
}

#[tokio::test]
async fn another_users_session_and_an_unknown_id_get_the_same_404() {
    let app = app();
    let (_, mine) = join_user(&app, "me@example.com", PASSWORD).await;
    let (theirs, their_tokens) = join_user(&app, "them@example.com", PASSWORD).await;
    let foreign = delete(&app, &mine.access, &item_path(&their_tokens.session_id)).await;
    let unknown = delete(&app, &mine.access, &item_path(&random_id())).await;
    for response in [&foreign, &unknown] {
        assert_not_found(response);
        assert_eq!(header(response, "allow"), Some("DELETE, OPTIONS"));
    }
    assert_eq!(foreign.headers(), unknown.headers());
    assert!(!app.store.session(theirs.id, &their_tokens.session_id).unwrap().revoked);
}

/// A REST API event for DELETE of `path`, its `pathParameters` as given.
fn delete_event(path: &str, path_parameters: Value, authorization: &str) -> Request {
    let mut event = rest_event_json("DELETE", path, &[("authorization", authorization)], None);
    event["resource"] = json!("/account/sessions/{id}");
    event["requestContext"]["resourcePath"] = json!("/account/sessions/{id}");
    event["pathParameters"] = path_parameters;
    lambda_http::request::from_str(&event.to_string()).expect("a REST API event")
}

#[tokio::test]
async fn the_id_comes_from_the_path_parameters_or_else_from_the_path() {
    let app = app();
    let (user, caller) = join_user(&app, "params@example.com", PASSWORD).await;
    let authorization = bearer(&caller.access);
    // As the REST API sends it: the `{id}` resource's parameter, and the path.
    let first = start_session(&app, user.id).await;
    let path = item_path(&first.session_id);
    let response = handle(
        &app,
        delete_event(&path, json!({"id": first.session_id}), &authorization),
    )
    .await;
    assert_no_content(&response);
    assert!(app.store.session(user.id, &first.session_id).unwrap().revoked);
    // Without path parameters, the path says it.
    let second = start_session(&app, user.id).await;
    let path = item_path(&second.session_id);
    assert_no_content(&handle(&app, delete_event(&path, Value::Null, &authorization)).await);
    assert!(app.store.session(user.id, &second.session_id).unwrap().revoked);
    // The parameter wins, and must be an id itself.
    let third = start_session(&app, user.id).await;
    let path = item_path(&third.session_id);
    let response = handle(&app, delete_event(&path, json!({"id": "../USER"}), &authorization)).await;
    assert_not_found(&response);
    assert!(!app.store.session(user.id, &third.session_id).unwrap().revoked);
}

// --- What every route answers ---------------------------------------------------------------------

#[tokio::test]
async fn every_method_and_spelling_refuses_what_mypage_refuses() {
    let app = app();
    let (user, tokens) = join_user(&app, "refused@example.com", PASSWORD).await;
    let target = start_session(&app, user.id).await;
    for (authorization, expected) in refused_authorizations(&app, user.id, &tokens) {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        for (method, path) in [
            ("GET", LIST_PATH.to_owned()),
            ("GET", "/account/sessions".to_owned()),
            ("DELETE", item_path(&target.session_id)),
            ("DELETE", format!("/account/sessions/{}", target.session_id)),
        ] {
            let response = handle(&app, event(method, &path, &headers, None)).await;
            assert_401(&response, &expected);
        }
    }
    assert!(!app.store.session(user.id, &target.session_id).unwrap().revoked);
}

#[tokio::test]
async fn an_inactive_or_deleted_user_is_not_found() {
    let app = app();
    let (user, tokens) = join_user(&app, "gone@example.com", PASSWORD).await;
    app.store.set_active(user.id, false);
    assert_401(&list(&app, &tokens.access).await, &user_inactive());
    app.store.delete_user(user.id);
    assert_401(&list(&app, &tokens.access).await, &user_not_found());
    let response = delete(&app, &tokens.access, &item_path(&tokens.session_id)).await;
    assert_401(&response, &user_not_found());
}

#[tokio::test]
async fn other_methods_get_405_with_each_routes_allow() {
    let app = app();
    let (user, tokens) = join_user(&app, "methods@example.com", PASSWORD).await;
    let target = start_session(&app, user.id).await;
    let authorization = bearer(&tokens.access);
    let headers = [("authorization", authorization.as_str())];
    for (path, methods, allow) in [
        (LIST_PATH.to_owned(), ["POST", "PUT", "PATCH", "DELETE"], LIST.allow()),
        (
            item_path(&target.session_id),
            ["GET", "POST", "PUT", "PATCH"],
            ITEM.allow(),
        ),
    ] {
        for method in methods {
            let response = handle(&app, event(method, &path, &headers, None)).await;
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_security_headers(&response);
            assert_eq!(header(&response, "allow"), Some(allow));
            assert_eq!(
                body_json(&response),
                json!({"detail": format!("Method \"{method}\" not allowed.")})
            );
        }
    }
    assert_eq!(LIST.allow(), "GET, HEAD, OPTIONS");
    assert_eq!(ITEM.allow(), "DELETE, OPTIONS");
    assert!(!app.store.session(user.id, &target.session_id).unwrap().revoked);
}

#[tokio::test]
async fn options_answers_without_a_token_on_both_routes() {
    let id = random_id();
    for (path, allow, name) in [
        (LIST_PATH.to_owned(), "GET, HEAD, OPTIONS", "Session List"),
        ("/account/sessions".to_owned(), "GET, HEAD, OPTIONS", "Session List"),
        (item_path(&id), "DELETE, OPTIONS", "Session Instance"),
        (format!("/account/sessions/{id}"), "DELETE, OPTIONS", "Session Instance"),
    ] {
        let response = handle(&app(), event("OPTIONS", &path, &[], None)).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "allow"), Some(allow), "{path}");
        assert_eq!(body_json(&response)["name"], name, "{path}");
    }
}

#[tokio::test]
async fn paths_that_name_no_session_are_json_404s_whatever_the_method() {
    let app = app();
    let (_, tokens) = join_user(&app, "paths@example.com", PASSWORD).await;
    let authorization = bearer(&tokens.access);
    for path in [
        "/account/sessions/nope/",
        "/account/sessions/0123456789ABCDEF0123456789ABCDEF/",
        "/account/sessions/0123456789abcdef/",
        "/account/sessions/0123456789abcdef0123456789abcdef/more/",
        "/account/sessions/revoke-others/",
        "/account/sessionsx/",
        "/account/",
    ] {
        for method in ["GET", "DELETE", "OPTIONS"] {
            let response = handle(&app, event(method, path, &[("authorization", &authorization)], None)).await;
            assert_eq!(response.status(), 404, "{method} {path}");
            assert_not_found(&response);
        }
    }
}

#[tokio::test]
async fn the_store_being_down_is_a_503() {
    let app = app();
    let (_, tokens) = join_user(&app, "down@example.com", PASSWORD).await;
    app.store.set_unavailable(true);
    for response in [
        list(&app, &tokens.access).await,
        delete(&app, &tokens.access, &item_path(&tokens.session_id)).await,
    ] {
        assert_unavailable(&response);
    }
}

#[test]
fn sessions_from_before_start_times_were_recorded_show_no_start() {
    let legacy = shared::store::Session {
        id: "s".into(),
        user_id: 1,
        refresh_jti: "j".into(),
        refresh_issued_at: 1_795_694_400,
        previous_jti: None,
        revoked: false,
        epoch: 0,
        expires_at: i64::MAX,
        created_at: 0,
        last_used_at: 0,
        device: String::new(),
        ip: None,
    };
    assert_eq!(
        shared::account::session_json(&legacy, "other", 1_795_694_400 + 60),
        json!({
            "id": "s",
            "created": null,
            "last_used": "2026-11-26T12:00:00Z",
            "expires": "2026-11-26T12:01:00Z",
            "device": "",
            "ip": null,
            "current": false,
        })
    );
}

#[tokio::test]
async fn ending_a_session_is_recorded_and_an_unknown_id_records_nothing() {
    use shared::store::{EventKind, EventSubject};
    let app = app();
    let (user, caller) = join_user(&app, "recorded@example.com", PASSWORD).await;
    let other = start_session(&app, user.id).await;
    assert_not_found(&delete(&app, &caller.access, &item_path(&random_id())).await);
    assert!(app.store.events().is_empty());
    assert_no_content(&delete(&app, &caller.access, &item_path(&other.session_id)).await);
    let ended = shared::testing::recorded(&app, EventKind::SessionEnded);
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0].user.clone(), ended[0].actor),
        (EventSubject::User(user.id), Some(user.id))
    );
    assert_eq!(ended[0].detail["session"], other.session_id);
}
