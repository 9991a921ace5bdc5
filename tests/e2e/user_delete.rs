//! POST /account/user/delete/ (issue 13): the password given again, then the user, the email
//! claim, every session and the throttle record removed: every token dies at once and the
//! address joins again as a new user. A login racing the deletion leaves no live session.

use e2e::*;
use serde_json::json;

mod unauthorized_routes {
    e2e::protected_route_401s!(Protected::UserDelete);
}

const WRONG_PASSWORD: &str = "Your password was entered incorrectly. Please enter it again.";

/// Every token of the session is refused: access on mypage, refresh on refresh and verify.
async fn assert_every_token_refused(session: &Session) {
    let answer = mypage(&session.bearer()).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    let answer = refresh(&session.refresh).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(verify(&session.access).await.status, 401);
    assert_eq!(verify(&session.refresh).await.status, 401);
}

#[tokio::test]
async fn deleting_the_account_kills_every_token_and_frees_the_email() {
    let joined = new_user().await;
    let others = [login(&joined.email).await, login(&joined.email).await];

    let answer = delete_account(&others[0].bearer(), PASSWORD).await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    assert_eq!(answer.header("allow"), Some("POST, OPTIONS"));
    for session in others.iter().chain([&joined]) {
        assert_every_token_refused(session).await;
        // Nothing left to log out either.
        logout(&session.refresh)
            .await
            .expect_401_without_challenge(logout_refused("Token is blacklisted"));
    }
    post_json(LOGIN, json!({"email": joined.email, "password": PASSWORD}))
        .await
        .expect(
            400,
            json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        );

    let again = join(&joined.email).await;
    assert!(
        again.pk() > joined.pk(),
        "a new user with a new pk: {} after {}",
        again.pk(),
        joined.pk()
    );
    assert_eq!(
        session_ids(&list_sessions(&again.bearer()).await),
        [session_id_of(&again.access)]
    );
    assert_every_token_refused(&joined).await;
}

#[tokio::test]
async fn deleting_answers_in_both_spellings() {
    for path in [USER_DELETE, "/account/user/delete"] {
        let session = new_user().await;
        let answer = post_json_with(
            path,
            json!({"password": PASSWORD}),
            &[("authorization", &session.bearer())],
        )
        .await;
        assert_eq!(answer.status, 204, "{path}: {}", answer.text);
        assert_every_token_refused(&session).await;
    }
}

#[tokio::test]
async fn a_wrong_or_missing_password_is_a_field_error_and_deletes_nothing() {
    let session = new_user().await;
    delete_account(&session.bearer(), "Not-The-Pw!1234")
        .await
        .expect(400, json!({"password": [WRONG_PASSWORD]}));
    post_json_with(USER_DELETE, json!({}), &[("authorization", &session.bearer())])
        .await
        .expect(400, json!({"password": ["This field is required."]}));
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
    login(&session.email).await;
}

#[tokio::test]
async fn wrong_passwords_count_against_the_login_throttle() {
    let session = new_user().await;
    for _ in 0..5 {
        let answer = delete_account(&session.bearer(), "Not-The-Pw!1234").await;
        assert_eq!(answer.status, 400, "{}", answer.text);
    }
    // Locked: the right password is refused unchecked, here and at login.
    for answer in [
        delete_account(&session.bearer(), PASSWORD).await,
        post_json(LOGIN, json!({"email": session.email, "password": PASSWORD})).await,
    ] {
        assert_eq!(answer.status, 429, "{}", answer.text);
        assert!(answer.header("retry-after").is_some());
    }
    assert_greeted(&mypage(&session.bearer()).await, &session.email);
}

/// Logins racing the deletion: each either failed or got tokens that are already refused.
async fn race_logins_with_a_deletion(logins: usize) -> (Session, Vec<Answer>) {
    let owner = new_user().await;
    let deleting = login(&owner.email).await;
    let email = owner.email.clone();
    let racers: Vec<_> = (0..logins)
        .map(|_| {
            let email = email.clone();
            tokio::spawn(async move { post_json(LOGIN, json!({"email": email, "password": PASSWORD})).await })
        })
        .collect();
    let deletion = delete_account(&deleting.bearer(), PASSWORD).await;
    assert_eq!(deletion.status, 204, "{}", deletion.text);
    let mut answers = Vec::new();
    for racer in racers {
        answers.push(racer.await.expect("the login task"));
    }
    (owner, answers)
}

#[tokio::test]
async fn a_deletion_racing_logins_leaves_no_live_session() {
    let (owner, answers) = race_logins_with_a_deletion(4).await;
    for answer in &answers {
        match answer.status {
            // Its session started before the deletion (and was swept) or its write was refused.
            200 => {
                let body = answer.json();
                let session = Session {
                    email: owner.email.clone(),
                    access: body["access"].as_str().expect("access").to_owned(),
                    refresh: body["refresh"].as_str().expect("refresh").to_owned(),
                    user: body["user"].clone(),
                };
                assert_every_token_refused(&session).await;
            }
            400 => answer.expect(
                400,
                json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
            ),
            other => panic!("a racing login answered {other}: {}", answer.text),
        }
    }
    assert_every_token_refused(&owner).await;
}

/// These need the stack's table: `make smoke` skips them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn a_deletion_racing_logins_leaves_no_item_in_the_users_partition() {
        let (owner, answers) = race_logins_with_a_deletion(4).await;
        assert!(answers.iter().all(|answer| [200, 400].contains(&answer.status)));
        assert_eq!(partition_items(owner.pk()).await, Vec::<String>::new());
    }
}
