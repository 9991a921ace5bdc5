//! The token attack list (`e2e::attacks`) against every route that reads a token: the bearer
//! routes (mypage, password change, user), the two that take a refresh token, and token verify
//! with either kind. Every attack must be refused with the
//! contract's 401, and the genuine token must still work afterwards (no attack may revoke,
//! rotate or otherwise touch the session it was made from).

use e2e::attacks::{Attack, Refusal, token_attacks};
use e2e::*;
use serde_json::{Value, json};

/// What an answer is, for comparing with what it must be: status, body, bearer challenge.
fn seen(answer: &Answer) -> (u16, Value, Option<String>) {
    let body = serde_json::from_str(&answer.text).unwrap_or_else(|_| json!(answer.text));
    (
        answer.status,
        body,
        answer.header("www-authenticate").map(str::to_owned),
    )
}

const CHALLENGE: Option<&str> = Some("Bearer realm=\"api\"");

/// Sends every attack through `call` and fails with the list of those not refused as `expected`.
async fn assert_all_refused<F, Fut>(
    route: &str,
    attacks: Vec<Attack>,
    expected: impl Fn(Refusal) -> (u16, Value, Option<&'static str>),
    call: F,
) where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    assert!(attacks.len() >= 90, "the attack list shrank: {}", attacks.len());
    let mut wrong = Vec::new();
    let total = attacks.len();
    for attack in attacks {
        let answer = call(attack.token).await;
        let (status, body, challenge) = expected(attack.refusal);
        let want = (status, body, challenge.map(str::to_owned));
        let got = seen(&answer);
        if got != want {
            wrong.push(format!("{}: {got:?}", attack.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "{route}: {} of {total} attacks not refused as the contract says:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!("{route}: {total} token attacks refused");
}

fn access_refusal(refusal: Refusal) -> (u16, Value, Option<&'static str>) {
    match refusal {
        Refusal::Invalid => (401, access_invalid(), CHALLENGE),
        Refusal::Expired => (401, access_expired(), CHALLENGE),
    }
}

#[tokio::test]
async fn mypage_refuses_every_token_attack() {
    let session = new_user().await;
    assert_all_refused(
        MYPAGE,
        token_attacks(&session.access),
        access_refusal,
        |token| async move { Protected::MyPage.with_bearer(&token).await },
    )
    .await;
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
}

#[tokio::test]
async fn password_change_refuses_every_token_attack() {
    let session = new_user().await;
    assert_all_refused(
        PASSWORD_CHANGE,
        token_attacks(&session.access),
        access_refusal,
        |token| async move { Protected::PasswordChange.with_bearer(&token).await },
    )
    .await;
    // The password is unchanged: the original one still logs in.
    login(&session.email).await;
}

#[tokio::test]
async fn refresh_refuses_every_token_attack() {
    let session = new_user().await;
    let expected = |refusal| match refusal {
        Refusal::Invalid => (401, refresh_refused("Token is invalid"), CHALLENGE),
        Refusal::Expired => (401, refresh_refused("Token is expired"), CHALLENGE),
    };
    assert_all_refused(REFRESH, token_attacks(&session.refresh), expected, |token| async move {
        refresh(&token).await
    })
    .await;
    // Not spent, not revoked: the genuine token still rotates.
    rotated(&refresh(&session.refresh).await);
}

#[tokio::test]
async fn logout_refuses_every_token_attack() {
    let session = new_user().await;
    let expected = |refusal| match refusal {
        Refusal::Invalid => (401, json!({"detail": "Token is invalid"}), None),
        Refusal::Expired => (401, json!({"detail": "Token is expired"}), None),
    };
    assert_all_refused(LOGOUT, token_attacks(&session.refresh), expected, |token| async move {
        logout(&token).await
    })
    .await;
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    logout(&session.refresh)
        .await
        .expect(200, json!({"detail": "Successfully logged out."}));
}

#[tokio::test]
async fn user_refuses_every_token_attack_on_read_and_write() {
    let session = new_user().await;
    for (route, method) in [(Protected::UserRead, "GET"), (Protected::UserUpdate, "PATCH")] {
        assert_all_refused(
            &format!("{method} {USER}"),
            token_attacks(&session.access),
            access_refusal,
            |token| async move { route.with_bearer(&token).await },
        )
        .await;
    }
    // Nothing was written: the name is the one joined with.
    user_details(&session.bearer()).await.expect(200, session.user.clone());
}

#[tokio::test]
async fn token_verify_refuses_every_token_attack_on_either_kind() {
    let session = new_user().await;
    let expected = |refusal| match refusal {
        Refusal::Invalid => (401, verify_refused("Token is invalid"), CHALLENGE),
        Refusal::Expired => (401, verify_refused("Token is expired"), CHALLENGE),
    };
    for genuine in [&session.access, &session.refresh] {
        assert_all_refused(VERIFY, token_attacks(genuine), expected, |token| async move {
            verify(&token).await
        })
        .await;
    }
    // Verify revoked nothing: the genuine refresh token still rotates.
    rotated(&refresh(&session.refresh).await);
}
