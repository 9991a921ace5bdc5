//! POST /account/token/refresh/ (contract §4 refresh, §5): rotation, the cookie, reuse
//! detection, and every error row.

use e2e::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix seconds of an ISO 8601 UTC expiration ending in `Z`.
fn unix_of(expiration: &Value) -> i64 {
    let text = expiration.as_str().expect("a string");
    assert!(text.ends_with('Z'), "{text} is UTC with Z");
    OffsetDateTime::parse(text, &Rfc3339)
        .unwrap_or_else(|_| panic!("{text} is ISO 8601"))
        .unix_timestamp()
}

async fn refresh_with_cookie(token: &str, body: Option<&str>) -> Answer {
    let cookie = format!("theme=dark; my-refresh-token={token}; other=1");
    match body {
        Some(body) => post_raw(REFRESH, "application/json", body, &[("cookie", &cookie)]).await,
        None => send("POST", REFRESH, &[("cookie", &cookie)], None).await,
    }
}

#[tokio::test]
async fn refresh_rotates_and_answers_the_contract_body_and_cookies() {
    let session = new_user().await;
    let answer = refresh(&session.refresh).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access", "refresh", "access_expiration", "refresh_expiration"]);
    let (access, refresh_token) = rotated(&answer);
    assert_ne!(refresh_token, session.refresh, "rotation issues a new refresh token");

    let (access_claims, refresh_claims) = (claims(&access), claims(&refresh_token));
    assert_eq!(access_claims["token_type"], "access");
    assert_eq!(refresh_claims["token_type"], "refresh");
    assert_eq!(
        unix_of(&body["access_expiration"]),
        access_claims["exp"].as_i64().unwrap()
    );
    assert_eq!(
        unix_of(&body["refresh_expiration"]),
        refresh_claims["exp"].as_i64().unwrap()
    );
    let old = claims(&session.refresh);
    for new in [&access_claims, &refresh_claims] {
        assert_eq!(new["user_id"], old["user_id"]);
        assert_eq!(new["sid"], old["sid"], "the same session");
    }
    assert_ne!(refresh_claims["jti"], old["jti"]);

    let cookie = answer.parsed_cookie("my-app-auth");
    assert_eq!(cookie.value, access);
    cookie.assert_hardened("3600");
    let cookie = answer.parsed_cookie("my-refresh-token");
    assert_eq!(cookie.value, refresh_token);
    cookie.assert_hardened("86400");

    assert_greeted(&mypage(&bearer(&access)).await, &session.email);
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
}

#[tokio::test]
async fn each_rotated_token_refreshes_once_more() {
    let session = new_user().await;
    let mut token = session.refresh.clone();
    for _ in 0..3 {
        let (access, next) = rotated(&refresh(&token).await);
        assert_greeted(&mypage(&bearer(&access)).await, &session.email);
        token = next;
    }
}

/// Within the reuse interval (30 s by default) the family's previous token gets the family's
/// current state: the very refresh token the rotation handed out, and a fresh access token.
#[tokio::test]
async fn the_previous_token_within_the_reuse_interval_gets_the_current_one() {
    let session = new_user().await;
    let (_, current) = rotated(&refresh(&session.refresh).await);
    let (access, again) = rotated(&refresh(&session.refresh).await);
    // One token: the same claims (under ES256 with a fresh, randomised signature).
    assert_eq!(claims(&again), claims(&current), "two tabs converge on one token");
    assert_greeted(&mypage(&bearer(&access)).await, &session.email);
    // The family did not fork: its current token rotates on.
    rotated(&refresh(&current).await);
}

#[tokio::test]
async fn a_token_spent_before_the_last_rotation_is_blacklisted_and_revokes_the_whole_session() {
    let session = new_user().await;
    let (_, second) = rotated(&refresh(&session.refresh).await);
    let (access, third) = rotated(&refresh(&second).await);
    refresh(&session.refresh).await.expect_challenge(blacklisted());
    refresh(&third).await.expect_challenge(blacklisted());
    mypage(&bearer(&access)).await.expect_challenge(access_invalid());
    mypage(&session.bearer()).await.expect_challenge(access_invalid());
}

#[tokio::test]
async fn reuse_revokes_only_the_session_it_belongs_to() {
    let joined = new_user().await;
    let other = login(&joined.email).await;
    let (_, second) = rotated(&refresh(&joined.refresh).await);
    rotated(&refresh(&second).await);
    refresh(&joined.refresh).await.expect_challenge(blacklisted());
    assert_greeted(&mypage(&other.bearer()).await, &joined.email);
    rotated(&refresh(&other.refresh).await);
}

#[tokio::test]
async fn without_the_key_the_cookie_is_used() {
    let session = new_user().await;
    let answer = refresh_with_cookie(&session.refresh, Some("{}")).await;
    let (access, next) = rotated_by_cookie(&answer);
    assert_greeted(&mypage(&bearer(&access)).await, &session.email);
    let answer = refresh_with_cookie(&next, None).await;
    let (_, next) = rotated_by_cookie(&answer);
    let form_answer = post_form(
        REFRESH,
        "unrelated=1",
        &[("cookie", &format!("my-refresh-token={next}"))],
    )
    .await;
    rotated_by_cookie(&form_answer);
    refresh_with_cookie(&session.refresh, None)
        .await
        .expect_challenge(blacklisted());
}

#[tokio::test]
async fn the_key_wins_over_the_cookie() {
    let session = new_user().await;
    let body = json!({"refresh": "garbage"}).to_string();
    refresh_with_cookie(&session.refresh, Some(&body))
        .await
        .expect_challenge(refresh_refused("Token is invalid"));
    rotated_by_cookie(&refresh_with_cookie(&session.refresh, None).await);
}

#[tokio::test]
async fn an_access_token_is_refused_as_wrong_type() {
    let session = new_user().await;
    let wrong_type = refresh_refused("Token has wrong type");
    refresh(&session.access).await.expect_challenge(wrong_type.clone());
    refresh_with_cookie(&session.access, None)
        .await
        .expect_challenge(wrong_type);
    rotated(&refresh(&session.refresh).await);
}

#[tokio::test]
async fn garbage_is_invalid() {
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "Bearer x"] {
        refresh(token)
            .await
            .expect_challenge(refresh_refused("Token is invalid"));
    }
}

#[tokio::test]
async fn a_bad_signature_is_invalid() {
    let session = new_user().await;
    let other = new_user().await;
    for forged in [
        with_signature_of(&session.refresh, &other.refresh),
        foreign_signed(&session.refresh),
        tampered(&session.refresh, json!({"user_id": other.pk().to_string()})),
    ] {
        refresh(&forged)
            .await
            .expect_challenge(refresh_refused("Token is invalid"));
    }
    rotated(&refresh(&session.refresh).await);
}

#[tokio::test]
async fn alg_none_is_invalid() {
    let session = new_user().await;
    let unsigned = unsigned(&session.refresh);
    for forged in [unsigned.as_str(), unsigned.trim_end_matches('.')] {
        refresh(forged)
            .await
            .expect_challenge(refresh_refused("Token is invalid"));
    }
}

#[tokio::test]
async fn a_token_revoked_by_logout_is_blacklisted() {
    let session = new_user().await;
    logout(&session.refresh)
        .await
        .expect(200, json!({"detail": "Successfully logged out."}));
    refresh(&session.refresh).await.expect_challenge(blacklisted());
}

#[tokio::test]
async fn a_token_revoked_by_a_password_change_is_blacklisted() {
    let joined = new_user().await;
    let changer = login(&joined.email).await;
    change_password(&changer.bearer(), new_password_body())
        .await
        .expect(200, json!({"detail": "New password has been saved."}));
    refresh(&joined.refresh).await.expect_challenge(blacklisted());
}

#[tokio::test]
async fn no_key_and_no_cookie_is_refused() {
    let expected = refresh_refused("No valid refresh token found.");
    post_json(REFRESH, json!({})).await.expect_challenge(expected.clone());
    send("POST", REFRESH, &[], None)
        .await
        .expect_challenge(expected.clone());
    send("POST", REFRESH, &[("cookie", "my-app-auth=x; theme=dark")], None)
        .await
        .expect_challenge(expected);
}

#[tokio::test]
async fn a_blank_key_is_a_validation_error() {
    let session = new_user().await;
    post_json(REFRESH, json!({"refresh": ""}))
        .await
        .expect(400, json!({"refresh": ["This field may not be blank."]}));
    // The key is there, so the cookie is not looked at.
    let cookie = format!("my-refresh-token={}", session.refresh);
    post_json_with(REFRESH, json!({"refresh": ""}), &[("cookie", &cookie)])
        .await
        .expect(400, json!({"refresh": ["This field may not be blank."]}));
}

#[tokio::test]
async fn an_html_form_refreshes() {
    let session = new_user().await;
    let form = format!("refresh={}", form_value(&session.refresh));
    rotated(&post_form(REFRESH, &form, &[]).await);
}

/// Tests that need more than HTTP: the stack's signing key (to forge a validly signed token)
/// or its table (to act as an admin). `make smoke` leaves them out; `make test` runs them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn another_algorithm_with_the_right_key_is_invalid() {
        let session = new_user().await;
        refresh(&other_algorithm(&session.refresh))
            .await
            .expect_challenge(refresh_refused("Token is invalid"));
        rotated(&refresh(&session.refresh).await);
    }

    #[tokio::test]
    async fn an_expired_token_is_expired() {
        let session = new_user().await;
        let mut claims = claims_with(&session.refresh, json!({}));
        // The session's own unspent token id: only the expiry can refuse it.
        claims["jti"] = e2e::claims(&session.refresh)["jti"].clone();
        claims["iat"] = json!(now() - 86_460);
        claims["exp"] = json!(now() - 60);
        let forged = sign_as_stack(&claims);
        refresh(&forged)
            .await
            .expect_challenge(refresh_refused("Token is expired"));
        refresh(&expired(&session.refresh))
            .await
            .expect_challenge(refresh_refused("Token is expired"));
    }

    #[tokio::test]
    async fn a_session_that_never_existed_is_refused() {
        let session = new_user().await;
        let forged = forge(&session.refresh, json!({"sid": random_hex()}));
        let answer = refresh(&forged).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.json()["code"], "token_not_valid");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer realm=\"api\""));
    }

    #[tokio::test]
    async fn an_inactive_or_deleted_user_cannot_refresh() {
        let inactive = new_user().await;
        set_active(inactive.pk(), false).await;
        let deleted = new_user().await;
        delete_user(deleted.pk()).await;
        for session in [inactive, deleted] {
            let answer = refresh(&session.refresh).await;
            assert_eq!(answer.status, 401, "{}", answer.text);
            assert!(answer.json().get("access").is_none(), "{}", answer.text);
            assert_eq!(answer.header("www-authenticate"), Some("Bearer realm=\"api\""));
        }
    }
}
