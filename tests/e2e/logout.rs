//! POST /account/logout/ (contract §4 logout, §5): the session ends at once, other sessions
//! live on, both cookies are deleted on every answer, and every error row.

use e2e::*;
use serde_json::json;

#[track_caller]
fn assert_cookies_deleted(answer: &Answer) {
    answer.parsed_cookie("my-app-auth").assert_deleted();
    answer.parsed_cookie("my-refresh-token").assert_deleted();
}

fn logged_out() -> serde_json::Value {
    json!({"detail": "Successfully logged out."})
}

#[tokio::test]
async fn logout_answers_200_and_deletes_both_cookies() {
    let session = new_user().await;
    let answer = logout(&session.refresh).await;
    answer.expect(200, logged_out());
    assert_cookies_deleted(&answer);
}

#[tokio::test]
async fn logout_revokes_the_session_at_once() {
    let session = new_user().await;
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    logout(&session.refresh).await.expect(200, logged_out());
    mypage(&session.bearer()).await.expect_challenge(access_invalid());
    refresh(&session.refresh).await.expect_challenge(blacklisted());
}

#[tokio::test]
async fn logout_revokes_every_access_token_of_the_session() {
    let session = new_user().await;
    let (second_access, second_refresh) = rotated(&refresh(&session.refresh).await);
    let (third_access, third_refresh) = rotated(&refresh(&second_refresh).await);
    logout(&third_refresh).await.expect(200, logged_out());
    for access in [&session.access, &second_access, &third_access] {
        mypage(&bearer(access)).await.expect_challenge(access_invalid());
    }
}

#[tokio::test]
async fn other_sessions_of_the_user_stay_valid() {
    let joined = new_user().await;
    let second = login(&joined.email).await;
    let third = login(&joined.email).await;
    logout(&second.refresh).await.expect(200, logged_out());
    for session in [&joined, &third] {
        assert_greeted(&mypage(&session.bearer()).await, &joined.email);
        rotated(&refresh(&session.refresh).await);
    }
    mypage(&second.bearer()).await.expect_challenge(access_invalid());
}

#[tokio::test]
async fn without_the_key_the_cookie_is_used() {
    let session = new_user().await;
    let cookie = format!("theme=dark; my-refresh-token={}", session.refresh);
    let answer = send("POST", LOGOUT, &[("cookie", &cookie)], None).await;
    answer.expect(200, logged_out());
    assert_cookies_deleted(&answer);
    mypage(&session.bearer()).await.expect_challenge(access_invalid());

    let other = login(&session.email).await;
    let cookie = format!("my-refresh-token={}", other.refresh);
    post_json_with(LOGOUT, json!({}), &[("cookie", &cookie)])
        .await
        .expect(200, logged_out());
    refresh(&other.refresh).await.expect_challenge(blacklisted());
}

#[tokio::test]
async fn an_html_form_logs_out() {
    let session = new_user().await;
    let form = format!("refresh={}", form_value(&session.refresh));
    post_form(LOGOUT, &form, &[]).await.expect(200, logged_out());
    refresh(&session.refresh).await.expect_challenge(blacklisted());
}

#[tokio::test]
async fn logging_out_twice_is_blacklisted() {
    let session = new_user().await;
    logout(&session.refresh).await.expect(200, logged_out());
    let answer = logout(&session.refresh).await;
    answer.expect_401_without_challenge(json!({"detail": "Token is blacklisted"}));
    assert_cookies_deleted(&answer);
}

#[tokio::test]
async fn a_refresh_token_spent_before_the_last_rotation_is_blacklisted_and_ends_the_session() {
    let session = new_user().await;
    let (_, second) = rotated(&refresh(&session.refresh).await);
    let (access, third) = rotated(&refresh(&second).await);
    logout(&session.refresh)
        .await
        .expect_401_without_challenge(json!({"detail": "Token is blacklisted"}));
    refresh(&third).await.expect_challenge(blacklisted());
    mypage(&bearer(&access)).await.expect_challenge(access_invalid());
}

/// A tab still holding the token a refresh in another tab just spent can log out.
#[tokio::test]
async fn the_previous_token_within_the_reuse_interval_logs_out() {
    let session = new_user().await;
    let (access, next) = rotated(&refresh(&session.refresh).await);
    logout(&session.refresh).await.expect(200, logged_out());
    refresh(&next).await.expect_challenge(blacklisted());
    mypage(&bearer(&access)).await.expect_challenge(access_invalid());
}

#[tokio::test]
async fn a_session_revoked_by_a_password_change_is_blacklisted() {
    let joined = new_user().await;
    let changer = login(&joined.email).await;
    change_password(&changer.bearer(), new_password_body())
        .await
        .expect(200, json!({"detail": "New password has been saved."}));
    logout(&joined.refresh)
        .await
        .expect_401_without_challenge(json!({"detail": "Token is blacklisted"}));
    logout(&changer.refresh).await.expect(200, logged_out());
}

#[tokio::test]
async fn no_refresh_token_is_refused() {
    let expected = json!({"detail": "Refresh token was not included in request data."});
    for answer in [
        post_json(LOGOUT, json!({})).await,
        send("POST", LOGOUT, &[], None).await,
        send("POST", LOGOUT, &[("cookie", "my-app-auth=x")], None).await,
    ] {
        answer.expect_401_without_challenge(expected.clone());
        assert_cookies_deleted(&answer);
    }
}

#[tokio::test]
async fn garbage_is_invalid() {
    let session = new_user().await;
    let other = new_user().await;
    let unsigned = unsigned(&session.refresh);
    for token in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        with_signature_of(&session.refresh, &other.refresh),
        foreign_signed(&session.refresh),
        unsigned.clone(),
        unsigned.trim_end_matches('.').to_owned(),
        tampered(&session.refresh, json!({"user_id": other.pk().to_string()})),
    ] {
        let answer = logout(&token).await;
        answer.expect_401_without_challenge(json!({"detail": "Token is invalid"}));
        assert_cookies_deleted(&answer);
    }
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    assert_greeted(&mypage(&other.bearer()).await, &other.email);
}

#[tokio::test]
async fn an_access_token_is_refused_as_wrong_type() {
    let session = new_user().await;
    let answer = logout(&session.access).await;
    answer.expect_401_without_challenge(json!({"detail": "Token has wrong type"}));
    assert_cookies_deleted(&answer);
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
}

#[tokio::test]
async fn every_other_outcome_deletes_both_cookies_too() {
    let mut answers = vec![
        get(LOGOUT, &[]).await,
        get("/account/logout", &[]).await,
        post_raw(LOGOUT, "text/plain", "refresh", &[]).await,
        post_raw(LOGOUT, "application/json", "{\"refresh\":", &[]).await,
        post_raw(LOGOUT, "application/json", "[]", &[]).await,
    ];
    let big = format!("{{\"refresh\":\"{}\"}}", "x".repeat(70_000));
    answers.push(post_raw(LOGOUT, "application/json", &big, &[]).await);
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(statuses, [405, 405, 415, 400, 400, 413]);
    for answer in &answers {
        assert_cookies_deleted(answer);
    }
}

#[tokio::test]
async fn options_deletes_both_cookies_too() {
    let answer = send("OPTIONS", LOGOUT, &[], None).await;
    assert_eq!(answer.status, 200);
    assert_cookies_deleted(&answer);
}

/// Tests that need more than HTTP: the stack's signing key (to forge a validly signed token)
/// or its table (to act as an admin). `make smoke` leaves them out; `make test` runs them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn another_algorithm_with_the_right_key_is_invalid() {
        let session = new_user().await;
        let answer = logout(&other_algorithm(&session.refresh)).await;
        answer.expect_401_without_challenge(json!({"detail": "Token is invalid"}));
        assert_cookies_deleted(&answer);
        assert_greeted(&mypage(&session.bearer()).await, &session.email);
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let session = new_user().await;
        let answer = logout(&expired(&session.refresh)).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.header("www-authenticate"), None);
        assert_cookies_deleted(&answer);
        assert_greeted(&mypage(&session.bearer()).await, &session.email);
    }
}
