//! POST /account/token/verify/ (issue 11): 200 `{}` for a token of either kind that would be
//! accepted now, the reference's 400s and 401s otherwise — and ours where the reference says 200
//! (a revoked session, a spent refresh token, an inactive user). Verify only reads: whatever it
//! is sent, no session is revoked or rotated by it.

use e2e::*;
use serde_json::json;

fn valid(answer: &Answer) {
    answer.expect(200, json!({}));
    assert_eq!(answer.header("www-authenticate"), None);
    assert!(answer.set_cookies().is_empty(), "verify sets no cookie");
}

#[tokio::test]
async fn the_access_and_refresh_tokens_of_join_login_and_refresh_all_verify() {
    let joined = new_user().await;
    let logged_in = login(&joined.email).await;
    let (access, next) = rotated(&refresh(&logged_in.refresh).await);
    for token in [&joined.access, &joined.refresh, &logged_in.access, &access, &next] {
        valid(&verify(token).await);
    }
}

#[tokio::test]
async fn garbage_is_invalid() {
    let session = new_user().await;
    let other = new_user().await;
    for token in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA".to_owned(),
        with_signature_of(&session.access, &other.access),
        tampered(&session.refresh, json!({"user_id": other.pk().to_string()})),
        foreign_signed(&session.access),
        unsigned(&session.refresh),
    ] {
        verify(&token)
            .await
            .expect_challenge(verify_refused("Token is invalid"));
    }
    // A number is text, as the reference reads it, and not a token.
    post_json(VERIFY, json!({"token": 12}))
        .await
        .expect_challenge(verify_refused("Token is invalid"));
}

#[tokio::test]
async fn a_missing_blank_null_or_non_text_token_is_a_field_error() {
    post_json(VERIFY, json!({}))
        .await
        .expect(400, json!({"token": ["This field is required."]}));
    for blank in ["", "  "] {
        verify(blank)
            .await
            .expect(400, json!({"token": ["This field may not be blank."]}));
    }
    post_json(VERIFY, json!({"token": null}))
        .await
        .expect(400, json!({"token": ["This field may not be null."]}));
    for not_text in [json!(true), json!(["a.b.c"])] {
        post_json(VERIFY, json!({"token": not_text}))
            .await
            .expect(400, json!({"token": ["Not a valid string."]}));
    }
}

#[tokio::test]
async fn the_token_is_read_from_the_body_only_trimmed_as_json_or_form() {
    let session = new_user().await;
    let cookie = format!("my-app-auth={}; my-refresh-token={}", session.access, session.refresh);
    post_json_with(
        VERIFY,
        json!({}),
        &[("cookie", &cookie), ("authorization", &session.bearer())],
    )
    .await
    .expect(400, json!({"token": ["This field is required."]}));
    valid(&verify(&format!(" {} ", session.access)).await);
    let form = format!("token={}", form_value(&session.refresh));
    valid(&post_form(VERIFY, &form, &[]).await);
}

#[tokio::test]
async fn both_tokens_of_a_logged_out_session_are_blacklisted_and_other_sessions_stay_valid() {
    let session = new_user().await;
    let other = login(&session.email).await;
    logout(&session.refresh)
        .await
        .expect(200, json!({"detail": "Successfully logged out."}));
    for token in [&session.access, &session.refresh] {
        verify(token)
            .await
            .expect_challenge(verify_refused("Token is blacklisted"));
    }
    valid(&verify(&other.access).await);
    valid(&verify(&other.refresh).await);
}

#[tokio::test]
async fn a_password_change_blacklists_the_other_sessions_and_keeps_its_own() {
    let session = new_user().await;
    let other = login(&session.email).await;
    change_password(&session.bearer(), new_password_body())
        .await
        .expect(200, json!({"detail": "New password has been saved."}));
    for token in [&other.access, &other.refresh] {
        verify(token)
            .await
            .expect_challenge(verify_refused("Token is blacklisted"));
    }
    valid(&verify(&session.access).await);
    valid(&verify(&session.refresh).await);
}

/// Verify takes exactly what refresh takes: the family's unspent token, and the previous one
/// within the reuse interval (30 s on the test stack).
#[tokio::test]
async fn the_previous_refresh_token_verifies_within_the_reuse_interval() {
    let session = new_user().await;
    let (_, next) = rotated(&refresh(&session.refresh).await);
    valid(&verify(&next).await);
    valid(&verify(&session.refresh).await);
}

/// Refresh would revoke the session for a token spent two rotations ago; verify says it is
/// blacklisted and touches nothing: the family goes on.
#[tokio::test]
async fn a_token_spent_two_rotations_ago_is_blacklisted_and_the_session_lives_on() {
    let session = new_user().await;
    let (_, second) = rotated(&refresh(&session.refresh).await);
    let (access, third) = rotated(&refresh(&second).await);
    for _ in 0..2 {
        verify(&session.refresh)
            .await
            .expect_challenge(verify_refused("Token is blacklisted"));
    }
    valid(&verify(&third).await);
    assert_greeted(&mypage(&bearer(&access)).await, &session.email);
    rotated(&refresh(&third).await);
}

#[tokio::test]
async fn verifying_a_refresh_token_does_not_spend_it() {
    let session = new_user().await;
    for _ in 0..3 {
        valid(&verify(&session.refresh).await);
    }
    let (_, next) = rotated(&refresh(&session.refresh).await);
    // Had verify spent it, refresh would have treated it as reuse and revoked the session.
    valid(&verify(&next).await);
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
}

/// These need the stack's signing key or its table: `make smoke` skips them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn expired_tokens_of_either_kind_are_expired() {
        let session = new_user().await;
        for token in [&session.access, &session.refresh] {
            verify(&expired(token))
                .await
                .expect_challenge(verify_refused("Token is expired"));
        }
    }

    /// The reference accepts any well-signed token type; we issue two, and refuse the rest.
    #[tokio::test]
    async fn an_unknown_token_type_is_invalid() {
        let session = new_user().await;
        let sliding = forge(&session.access, json!({"token_type": "sliding"}));
        verify(&sliding)
            .await
            .expect_challenge(verify_refused("Token is invalid"));
    }

    #[tokio::test]
    async fn a_token_of_a_session_that_never_existed_is_blacklisted() {
        let session = new_user().await;
        for token in [&session.access, &session.refresh] {
            let stray = forge(token, json!({"sid": random_hex()}));
            verify(&stray)
                .await
                .expect_challenge(verify_refused("Token is blacklisted"));
        }
    }

    #[tokio::test]
    async fn the_previous_refresh_token_after_the_reuse_interval_is_blacklisted_and_revokes_nothing() {
        let session = new_user().await;
        let (access, next) = rotated(&refresh(&session.refresh).await);
        age_rotation(&next, 31).await;
        verify(&session.refresh)
            .await
            .expect_challenge(verify_refused("Token is blacklisted"));
        // Refresh would have ended the session here; after verify, it is whole.
        valid(&verify(&next).await);
        assert_greeted(&mypage(&bearer(&access)).await, &session.email);
        rotated(&refresh(&next).await);
    }

    #[tokio::test]
    async fn an_inactive_users_tokens_are_refused_as_mypage_refuses_them_until_reactivated() {
        let session = new_user().await;
        set_active(session.pk(), false).await;
        for token in [&session.access, &session.refresh] {
            verify(token).await.expect_challenge(user_not_found());
        }
        set_active(session.pk(), true).await;
        valid(&verify(&session.access).await);
        valid(&verify(&session.refresh).await);
    }

    #[tokio::test]
    async fn a_deleted_users_tokens_are_refused_as_mypage_refuses_them() {
        let session = new_user().await;
        delete_user(session.pk()).await;
        for token in [&session.access, &session.refresh] {
            verify(token).await.expect_challenge(user_not_found());
        }
    }
}
