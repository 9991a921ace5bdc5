//! GET /account/mypage/ (contract §4 mypage) and the §2 401s.

use e2e::*;
use serde_json::json;

e2e::protected_route_401s!(Protected::MyPage);

#[tokio::test]
async fn mypage_greets_the_bearer_with_the_stored_email() {
    let email = unique_email();
    let session = join(&format!(" {} ", email.to_uppercase())).await;
    let answer = mypage(&session.bearer()).await;
    answer.expect(200, json!({"message": format!("반갑습니다, {email}님!")}));
    assert!(answer.text.contains("반갑습니다"), "unescaped: {}", answer.text);
}

#[tokio::test]
async fn access_tokens_of_join_login_and_refresh_all_open_mypage() {
    let joined = new_user().await;
    let logged_in = login(&joined.email).await;
    let (refreshed, _) = rotated(&refresh(&logged_in.refresh).await);
    for access in [&joined.access, &logged_in.access, &refreshed] {
        assert_greeted(&mypage(&bearer(access)).await, &joined.email);
    }
}

#[tokio::test]
async fn each_user_sees_their_own_greeting() {
    let (first, second) = (new_user().await, new_user().await);
    assert_greeted(&mypage(&first.bearer()).await, &first.email);
    assert_greeted(&mypage(&second.bearer()).await, &second.email);
}

#[tokio::test]
async fn revocation_of_one_session_leaves_the_others() {
    let joined = new_user().await;
    let other = login(&joined.email).await;
    logout(&joined.refresh)
        .await
        .expect(200, json!({"detail": "Successfully logged out."}));
    mypage(&joined.bearer()).await.expect_challenge(access_invalid());
    assert_greeted(&mypage(&other.bearer()).await, &joined.email);
}

/// Tests that need more than HTTP: the stack's signing key (to forge a validly signed token)
/// or its table (to act as an admin). `make smoke` leaves them out; `make test` runs them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn a_reactivated_user_gets_in_again() {
        let session = new_user().await;
        set_active(session.pk(), false).await;
        mypage(&session.bearer()).await.expect_challenge(user_inactive());
        set_active(session.pk(), true).await;
        assert_greeted(&mypage(&session.bearer()).await, &session.email);
    }
}
