//! GET /account/sessions/, DELETE /account/sessions/{id}/ and POST
//! /account/sessions/revoke-others/ (issue 13): the bearer's sessions listed newest first with
//! their device and address, one ended at once, every other ended at once.

use e2e::*;
use serde_json::{Value, json};

mod list {
    e2e::protected_route_401s!(Protected::SessionList);
}
mod end {
    e2e::protected_route_401s!(Protected::SessionEnd);
}
mod revoke {
    e2e::protected_route_401s!(Protected::RevokeOthers);
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// A login with this `User-Agent`, and a forged `X-Forwarded-For` that must not be believed.
async fn login_from(email: &str, user_agent: &str) -> Session {
    let headers = [("user-agent", user_agent), ("x-forwarded-for", "198.51.100.66")];
    let answer = post_json_with(LOGIN, json!({"email": email, "password": PASSWORD}), &headers).await;
    assert_eq!(answer.status, 200, "login: {}", answer.text);
    let body = answer.json();
    Session {
        email: email.to_owned(),
        access: body["access"].as_str().expect("access").to_owned(),
        refresh: body["refresh"].as_str().expect("refresh").to_owned(),
        user: body["user"].clone(),
    }
}

/// Whether the session's tokens still work: its access token on mypage, its refresh token on
/// refresh (which spends it: call last).
async fn assert_alive(session: &Session) {
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    rotated(&refresh(&session.refresh).await);
}

async fn assert_dead(session: &Session) {
    mypage(&session.bearer()).await.expect_challenge(access_invalid());
    refresh(&session.refresh).await.expect_challenge(blacklisted());
}

#[tokio::test]
async fn two_logins_with_different_user_agents_are_listed_newest_first() {
    let joined = new_user().await;
    let laptop = login_from(&joined.email, FIREFOX).await;
    let phone = login_from(&joined.email, SAFARI_IOS).await;

    let answer = list_sessions(&phone.bearer()).await;
    assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
    let body = answer.json();
    let sessions = body.as_array().expect("a plain JSON array");
    assert_eq!(sessions.len(), 3, "{body}");
    let ids: Vec<String> = [&phone, &laptop, &joined]
        .iter()
        .map(|s| session_id_of(&s.access))
        .collect();
    // Logins a second apart or less can share a start second; the order is then the id's.
    let mut listed = session_ids(&answer);
    let mut expected = ids.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    let by_id = |id: &str| sessions.iter().find(|s| s["id"] == id).expect("listed").clone();
    let (phone_entry, laptop_entry) = (by_id(&ids[0]), by_id(&ids[1]));
    assert_eq!(phone_entry["device"], "Safari on iOS");
    assert_eq!(laptop_entry["device"], "Firefox on Linux");
    assert_eq!(
        sessions
            .iter()
            .map(|s| s["current"].clone())
            .filter(|c| c == &json!(true))
            .count(),
        1
    );
    assert_eq!(phone_entry["current"], true);
    for entry in sessions {
        let keys: Vec<&str> = entry
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["id", "created", "last_used", "expires", "device", "ip", "current"]
        );
        let created = entry["created"].as_str().expect("created");
        assert!(created.ends_with('Z') && created.len() == 20, "ISO 8601 UTC: {created}");
        assert!(entry["last_used"].as_str().expect("last_used") >= created);
        // The address API Gateway saw (the emulator says 127.0.0.1), never the forged header.
        let ip = entry["ip"].as_str().expect("an address");
        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{ip}");
        assert_ne!(ip, "198.51.100.66", "X-Forwarded-For is not believed");
    }
    let created: Vec<&str> = sessions.iter().map(|s| s["created"].as_str().unwrap()).collect();
    assert!(
        created.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first: {created:?}"
    );
    // Another user sees only their own.
    let stranger = new_user().await;
    assert_eq!(
        session_ids(&list_sessions(&stranger.bearer()).await),
        [session_id_of(&stranger.access)]
    );
}

#[tokio::test]
async fn the_list_answers_in_both_spellings_and_to_head() {
    let session = new_user().await;
    let bearer = session.bearer();
    for path in [SESSIONS, "/account/sessions"] {
        let answer = get(path, &[("authorization", &bearer)]).await;
        assert_eq!(session_ids(&answer), [session_id_of(&session.access)], "{path}");
        let head = send("HEAD", path, &[("authorization", &bearer)], None).await;
        assert_eq!((head.status, head.text.as_str()), (200, ""), "HEAD {path}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let answer = send(method, SESSIONS, &[("authorization", &bearer)], None).await;
        answer.expect(405, json!({"detail": format!("Method \"{method}\" not allowed.")}));
        assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}

#[tokio::test]
async fn ending_one_session_kills_exactly_its_tokens() {
    let caller = new_user().await;
    let doomed = login(&caller.email).await;
    let bystander = login(&caller.email).await;

    let answer = end_session(&caller.bearer(), &session_id_of(&doomed.access)).await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    assert_eq!(answer.header("allow"), Some("DELETE, OPTIONS"));
    assert_dead(&doomed).await;
    let mut left = session_ids(&list_sessions(&caller.bearer()).await);
    left.sort();
    let mut expected = vec![session_id_of(&caller.access), session_id_of(&bystander.access)];
    expected.sort();
    assert_eq!(left, expected);
    assert_alive(&bystander).await;
    assert_alive(&caller).await;
}

#[tokio::test]
async fn ending_the_callers_own_session_logs_it_out() {
    let session = new_user().await;
    let answer = end_session(&session.bearer(), &session_id_of(&session.access)).await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    assert_dead(&session).await;
    // Its own token no longer authenticates, not even to end it again.
    end_session(&session.bearer(), &session_id_of(&session.access))
        .await
        .expect_challenge(access_invalid());
}

#[tokio::test]
async fn ending_a_session_twice_succeeds_twice_in_both_spellings() {
    let caller = new_user().await;
    let other = login(&caller.email).await;
    let id = session_id_of(&other.access);
    for path in [session_path(&id), format!("/account/sessions/{id}")] {
        let answer = send("DELETE", &path, &[("authorization", &caller.bearer())], None).await;
        assert_eq!((answer.status, answer.text.as_str()), (204, ""), "{path}");
    }
    assert_dead(&other).await;
}

#[tokio::test]
async fn another_users_session_and_an_unknown_id_get_the_same_404() {
    let me = new_user().await;
    let them = new_user().await;
    let foreign = end_session(&me.bearer(), &session_id_of(&them.access)).await;
    let unknown = end_session(&me.bearer(), &random_hex()).await;
    for answer in [&foreign, &unknown] {
        answer.expect(404, json!({"detail": "Not found."}));
        assert_eq!(answer.header("allow"), Some("DELETE, OPTIONS"));
    }
    assert_alive(&them).await;
}

#[tokio::test]
async fn revoke_others_ends_every_other_session_and_keeps_the_callers() {
    let joined = new_user().await;
    let others = [login(&joined.email).await, login(&joined.email).await];
    let caller = login(&joined.email).await;
    let stranger = new_user().await;

    let answer = revoke_others(&caller.bearer()).await;
    answer.expect(200, json!({"revoked": 3}));
    assert_eq!(answer.header("allow"), Some("POST, OPTIONS"));
    for session in others.iter().chain([&joined]) {
        assert_dead(session).await;
    }
    assert_eq!(
        session_ids(&list_sessions(&caller.bearer()).await),
        [session_id_of(&caller.access)]
    );
    revoke_others(&caller.bearer()).await.expect(200, json!({"revoked": 0}));
    assert_alive(&caller).await;
    assert_alive(&stranger).await;
    // A login afterwards is a live session, and the next revoke-others ends it.
    let later = login(&joined.email).await;
    assert_greeted(&mypage(&later.bearer()).await, &later.email);
    let (access, _) = rotated(&refresh(&caller.refresh).await);
    revoke_others(&bearer(&access)).await.expect(200, json!({"revoked": 1}));
    mypage(&later.bearer()).await.expect_challenge(access_invalid());
}

#[tokio::test]
async fn revoke_others_answers_in_both_spellings() {
    let session = new_user().await;
    for path in [REVOKE_OTHERS, "/account/sessions/revoke-others"] {
        post_json_with(path, json!({}), &[("authorization", &session.bearer())])
            .await
            .expect(200, json!({"revoked": 0}));
    }
}

/// The router sends each new path to its function before the catch-all, as the REST API does:
/// the fixed `revoke-others` before the `{id}` beside it, and every unknown path to mypage's 404.
#[tokio::test]
async fn new_routes_are_matched_before_the_catch_all_and_the_fixed_one_before_the_id() {
    let id = random_hex();
    for (path, allow) in [
        (SESSIONS.to_owned(), "GET, HEAD, OPTIONS"),
        ("/account/sessions".to_owned(), "GET, HEAD, OPTIONS"),
        (session_path(&id), "DELETE, OPTIONS"),
        (format!("/account/sessions/{id}"), "DELETE, OPTIONS"),
        (REVOKE_OTHERS.to_owned(), "POST, OPTIONS"),
        ("/account/sessions/revoke-others".to_owned(), "POST, OPTIONS"),
        (USER_DELETE.to_owned(), "POST, OPTIONS"),
        ("/account/user/delete".to_owned(), "POST, OPTIONS"),
    ] {
        let answer = send("OPTIONS", &path, &[], None).await;
        assert_eq!((answer.status, answer.header("allow")), (200, Some(allow)), "{path}");
    }
    // GET of revoke-others is its own 405, not the {id} route's.
    let answer = get(REVOKE_OTHERS, &[]).await;
    answer.expect(405, json!({"detail": "Method \"GET\" not allowed."}));
    assert_eq!(answer.header("allow"), Some("POST, OPTIONS"));
    // A segment that is not an id, deeper paths and near misses: the contract's 404.
    for path in [
        "/account/sessions/nope/",
        "/account/sessions/NOPE",
        "/account/sessions/0123456789ABCDEF0123456789ABCDEF/",
        "/account/sessions/x/y/",
        "/account/sessions/revoke-others/x/",
        "/account/sessionsx/",
        "/account/user/delete/x/",
        "/account/nope/",
    ] {
        for method in ["GET", "DELETE", "POST"] {
            send(
                method,
                path,
                &[("content-type", "application/json")],
                Some("{}".to_owned()),
            )
            .await
            .expect(404, json!({"detail": "Not found."}));
        }
    }
}

/// These need the stack's table: `make smoke` skips them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn a_refresh_moves_the_sessions_last_use_and_keeps_its_start() {
        let session = new_user().await;
        age_rotation(&session.refresh, 600).await;
        let before = list_sessions(&session.bearer()).await.json()[0].clone();
        let (access, _) = rotated(&refresh(&session.refresh).await);
        let after = list_sessions(&bearer(&access)).await.json()[0].clone();
        assert_eq!(after["created"], before["created"]);
        let seconds = |entry: &Value, key: &str| {
            time::OffsetDateTime::parse(
                entry[key].as_str().expect("a time"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("RFC 3339")
            .unix_timestamp()
        };
        assert!(
            seconds(&after, "last_used") >= seconds(&before, "last_used") + 600,
            "{before} then {after}"
        );
    }
}
