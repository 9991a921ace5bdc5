//! Concurrent requests over HTTP (contract §4): racing joins of one email, racing refreshes,
//! logouts and password changes of one session or user, profile updates racing a password
//! change or a deactivation. Whatever the timing, one join and one password change win; racing
//! refreshes of one token converge on one new token (the reuse interval), racing logouts all
//! end the one session, and a profile update never undoes what it raced.

use e2e::*;
use futures::future::join_all;
use serde_json::{Value, json};

const RACERS: usize = 8;

fn email_taken() -> Value {
    json!({"email": ["A user is already registered with this email address."]})
}

/// Splits answers into the winners (status `won`) and the rest, which must all be `lost`.
#[track_caller]
fn one_winner(answers: Vec<Answer>, won: u16, lost: impl Fn(&Answer)) -> Answer {
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    let (winners, losers): (Vec<Answer>, Vec<Answer>) = answers.into_iter().partition(|answer| answer.status == won);
    assert_eq!(winners.len(), 1, "exactly one {won}: {statuses:?}");
    for answer in &losers {
        lost(answer);
    }
    winners.into_iter().next().expect("a winner")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_joins_of_one_email_make_one_user() {
    let email = unique_email();
    let answers = join_all((0..RACERS).map(|_| post_json(JOIN, signup(&email)))).await;
    let winner = one_winner(answers, 201, |answer| answer.expect(400, email_taken()));
    let session = login(&email).await;
    assert_eq!(session.user, winner.json()["user"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_joins_of_one_email_in_different_cases_make_one_user() {
    let email = unique_email();
    let spellings: Vec<String> = (0..RACERS)
        .map(|i| match i % 3 {
            0 => email.clone(),
            1 => email.to_uppercase(),
            _ => format!(" {} ", email.replacen("user", "USER", 1)),
        })
        .collect();
    let answers = join_all(spellings.iter().map(|sent| post_json(JOIN, signup(sent)))).await;
    let winner = one_winner(answers, 201, |answer| answer.expect(400, email_taken()));
    assert_eq!(winner.json()["user"]["email"], email.as_str());
}

async fn race_refreshes(racers: usize) {
    let session = new_user().await;
    let answers = join_all((0..racers).map(|_| refresh(&session.refresh))).await;
    let handed_out: Vec<String> = answers.iter().map(|answer| rotated(answer).1).collect();
    // One token: the same claims (jti, iat, exp). Under HS256 the very same string; ES256
    // signatures are randomised, so its re-issue carries another signature of those claims.
    assert!(
        handed_out.iter().all(|token| claims(token) == claims(&handed_out[0])),
        "every racer holds the one token the family moved to"
    );
    // The family did not fork: that token rotates on, and then the first one is theft.
    let (_, third) = rotated(&refresh(&handed_out[0]).await);
    refresh(&session.refresh).await.expect_challenge(blacklisted());
    refresh(&third).await.expect_challenge(blacklisted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_racing_refreshes_of_one_token_converge() {
    race_refreshes(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_racing_refreshes_of_one_token_converge() {
    race_refreshes(RACERS).await;
}

/// Logout is idempotent: whoever read the session before it ended ends it too (200); who read
/// it after is told the token is blacklisted. Either way the session is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_logouts_of_one_token_all_end_the_session() {
    let session = new_user().await;
    let answers = join_all((0..RACERS).map(|_| logout(&session.refresh))).await;
    let mut ended = 0;
    for answer in &answers {
        match answer.status {
            200 => {
                answer.expect(200, json!({"detail": "Successfully logged out."}));
                ended += 1;
            }
            _ => answer.expect_401_without_challenge(json!({"detail": "Token is blacklisted"})),
        }
    }
    assert!(ended >= 1, "at least one logout ended it");
    mypage(&session.bearer()).await.expect_challenge(access_invalid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_racing_a_logout_of_one_token_leaves_the_session_ended() {
    let session = new_user().await;
    let (refreshed, logged_out) = tokio::join!(refresh(&session.refresh), logout(&session.refresh));
    match refreshed.status {
        200 => {}
        _ => refreshed.expect_challenge(blacklisted()),
    }
    match logged_out.status {
        200 => logged_out.expect(200, json!({"detail": "Successfully logged out."})),
        _ => logged_out.expect_401_without_challenge(json!({"detail": "Token is blacklisted"})),
    }
    assert!(
        refreshed.status == 200 || logged_out.status == 200,
        "one of them wins: {} / {}",
        refreshed.text,
        logged_out.text
    );
    // A logout that answered 200, or a logout that presented a spent token: either way the
    // session is over, including whatever the refresh handed out.
    refresh(&session.refresh).await.expect_challenge(blacklisted());
    mypage(&session.bearer()).await.expect_challenge(access_invalid());
    if refreshed.status == 200 {
        let (access, next) = rotated(&refreshed);
        refresh(&next).await.expect_challenge(blacklisted());
        mypage(&bearer(&access)).await.expect_challenge(access_invalid());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_password_changes_from_two_sessions_have_one_winner() {
    let first = new_user().await;
    let second = login(&first.email).await;
    let passwords = ["Racer-One-Pw!5813", "Racer-Two-Pw!2290"];
    let (first_bearer, second_bearer) = (first.bearer(), second.bearer());
    let (a, b) = tokio::join!(
        change_password(&first_bearer, password_change_body(PASSWORD, passwords[0])),
        change_password(&second_bearer, password_change_body(PASSWORD, passwords[1])),
    );
    let (winner, lost_session, loser, password) = match (a.status, b.status) {
        (200, 401) => (&first, &second, &b, passwords[0]),
        (401, 200) => (&second, &first, &a, passwords[1]),
        statuses => panic!("exactly one change wins: {statuses:?}: {} / {}", a.text, b.text),
    };
    loser.expect_challenge(access_invalid());
    login_with(&first.email, password).await;
    assert_greeted(&mypage(&winner.bearer()).await, &first.email);
    mypage(&lost_session.bearer()).await.expect_challenge(access_invalid());
}

/// A PATCH from one session racing a password change from another: the change always lands
/// (the PATCH writes no hash and no epoch); the PATCH either landed first (200, its name is
/// stored) or found its session revoked (401, nothing stored). Never both, never neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profile_update_racing_a_password_change_lands_before_it_or_not_at_all() {
    for round in 0..RACERS {
        let changer = new_user().await;
        let patcher = login(&changer.email).await;
        let name = format!("Racer {round}");
        let (patcher_bearer, changer_bearer) = (patcher.bearer(), changer.bearer());
        let (patched, changed) = tokio::join!(
            update_user("PATCH", &patcher_bearer, json!({"first_name": name})),
            change_password(&changer_bearer, new_password_body()),
        );
        changed.expect(200, json!({"detail": "New password has been saved."}));
        let stored = user_details(&changer.bearer()).await.json()["first_name"].clone();
        match patched.status {
            200 => assert_eq!(stored, name.as_str(), "round {round}: answered 200, so stored"),
            _ => {
                patched.expect_challenge(access_invalid());
                assert_eq!(stored, "", "round {round}: refused, so nothing stored");
            }
        }
        mypage(&patcher.bearer()).await.expect_challenge(access_invalid());
        login_with(&changer.email, NEW_PASSWORD).await;
    }
}

/// These need the stack's table: `make smoke` skips them.
mod white_box {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    /// A PATCH racing an admin's deactivation: the user ends inactive whatever the order (the
    /// write never resurrects it); the PATCH either landed first (200, stored) or was refused
    /// (401 user_inactive or user_not_found, nothing stored).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_profile_update_racing_a_deactivation_never_undoes_it() {
        let mut outcomes = Vec::new();
        for round in 0..RACERS {
            let session = new_user().await;
            let name = format!("Racer {round}");
            let bearer = session.bearer();
            let (patched, ()) = tokio::join!(
                update_user("PATCH", &bearer, json!({"first_name": name})),
                set_active(session.pk(), false),
            );
            assert_eq!(
                user_attribute(session.pk(), "is_active").await,
                Some(AttributeValue::Bool(false)),
                "round {round}: the deactivation stands"
            );
            let stored = user_attribute(session.pk(), "first_name").await;
            match patched.status {
                200 => {
                    assert_eq!(patched.json()["first_name"], name.as_str());
                    assert_eq!(
                        stored,
                        Some(AttributeValue::S(name)),
                        "round {round}: answered 200, so stored"
                    );
                }
                _ => {
                    // Refused at authentication (inactive already) or at the write (gone or
                    // inactive by then, the write cannot tell which).
                    let refusal = match patched.json() == user_inactive() {
                        true => user_inactive(),
                        false => user_not_found(),
                    };
                    patched.expect_challenge(refusal);
                    assert_eq!(
                        stored,
                        Some(AttributeValue::S(String::new())),
                        "round {round}: refused, so nothing stored"
                    );
                }
            }
            outcomes.push(patched.status);
        }
        println!("PATCH racing a deactivation, {RACERS} rounds: {outcomes:?}");
    }
}
