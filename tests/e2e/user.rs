//! GET|PUT|PATCH /account/user/ (issue 11): the bearer's user object; names changed with
//! Django's limits, gender and date of birth with join's rules; `pk` and `email` read-only; a
//! field not sent left as it is; the §2 401s of mypage on every method.

use e2e::*;
use serde_json::{Value, json};

/// The 401s of contract §2 on GET, and on PATCH with a valid body.
mod read {
    e2e::protected_route_401s!(Protected::UserRead);
}
mod update {
    e2e::protected_route_401s!(Protected::UserUpdate);
}

/// `session.user` with `changes` applied.
fn user_with(session: &Session, changes: Value) -> Value {
    let mut user = session.user.clone();
    for (key, value) in changes.as_object().expect("an object") {
        user[key] = value.clone();
    }
    user
}

/// A user who joined with every profile field.
async fn full_user() -> Session {
    let email = unique_email();
    let body = signup_with(
        &email,
        json!({"first_name": "Ada", "last_name": "Lovelace", "gender": "female", "date_of_birth": "1815-12-10"}),
    );
    let answer = post_json(JOIN, body).await;
    assert_eq!(answer.status, 201, "join: {}", answer.text);
    let session = login(&email).await;
    assert_eq!(session.user["gender"], "female");
    session
}

#[tokio::test]
async fn get_answers_the_user_object_join_answered() {
    let session = full_user().await;
    let answer = user_details(&session.bearer()).await;
    answer.expect(200, session.user.clone());
    assert_eq!(answer.header("allow"), Some("GET, PUT, PATCH, HEAD, OPTIONS"));
    let keys: Vec<&str> = session.user.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["pk", "email", "first_name", "last_name", "gender", "date_of_birth"]
    );
}

#[tokio::test]
async fn each_user_sees_their_own_details() {
    let (first, second) = (new_user().await, new_user().await);
    user_details(&first.bearer()).await.expect(200, first.user.clone());
    user_details(&second.bearer()).await.expect(200, second.user.clone());
}

#[tokio::test]
async fn patch_changes_the_names_and_the_change_is_stored() {
    let session = full_user().await;
    let changes = json!({"first_name": "Grace", "last_name": "Hopper"});
    let expected = user_with(&session, changes.clone());
    update_user("PATCH", &session.bearer(), changes)
        .await
        .expect(200, expected.clone());
    user_details(&session.bearer()).await.expect(200, expected.clone());
    // Every session sees it; login answers it too.
    assert_eq!(login(&session.email).await.user, expected);
}

/// The reference requires none of the fields, so a PUT without one leaves it as it is.
#[tokio::test]
async fn put_leaves_every_field_it_does_not_send_as_it_is() {
    let session = full_user().await;
    update_user("PUT", &session.bearer(), json!({"last_name": "Byron"}))
        .await
        .expect(200, user_with(&session, json!({"last_name": "Byron"})));
    update_user("PUT", &session.bearer(), json!({}))
        .await
        .expect(200, user_with(&session, json!({"last_name": "Byron"})));
}

#[tokio::test]
async fn email_and_pk_are_read_only() {
    let session = full_user().await;
    let other = unique_email();
    let body = json!({"email": other, "pk": 1, "first_name": "Ada"});
    update_user("PATCH", &session.bearer(), body)
        .await
        .expect(200, session.user.clone());
    login(&session.email).await;
    // The address sent was not taken by this account: it can still join.
    join(&other).await;
}

#[tokio::test]
async fn names_are_trimmed_may_be_blank_and_hold_at_most_150_characters() {
    let session = full_user().await;
    update_user(
        "PATCH",
        &session.bearer(),
        json!({"first_name": "  Ann ", "last_name": ""}),
    )
    .await
    .expect(200, user_with(&session, json!({"first_name": "Ann", "last_name": ""})));
    let longest = "길".repeat(150);
    update_user("PATCH", &session.bearer(), json!({"first_name": longest}))
        .await
        .expect(
            200,
            user_with(&session, json!({"first_name": longest, "last_name": ""})),
        );
    update_user(
        "PUT",
        &session.bearer(),
        json!({"first_name": "x".repeat(151), "last_name": null}),
    )
    .await
    .expect(
        400,
        json!({
            "first_name": ["Ensure this field has no more than 150 characters."],
            "last_name": ["This field may not be null."],
        }),
    );
    update_user(
        "PATCH",
        &session.bearer(),
        json!({"first_name": false, "last_name": {"a": 1}}),
    )
    .await
    .expect(
        400,
        json!({"first_name": ["Not a valid string."], "last_name": ["Not a valid string."]}),
    );
    update_user("PATCH", &session.bearer(), json!({"first_name": 7, "last_name": 2.5}))
        .await
        .expect(200, user_with(&session, json!({"first_name": "7", "last_name": "2.5"})));
}

#[tokio::test]
async fn gender_and_date_of_birth_change_with_joins_rules_and_messages() {
    let session = full_user().await;
    update_user(
        "PATCH",
        &session.bearer(),
        json!({"gender": "robot", "date_of_birth": "2999-01-01", "first_name": "Kept out"}),
    )
    .await
    .expect(
        400,
        json!({
            "gender": ["\"robot\" is not a valid choice."],
            "date_of_birth": ["Date of birth cannot be in the future."],
        }),
    );
    update_user("PUT", &session.bearer(), json!({"date_of_birth": "10.12.1815"}))
        .await
        .expect(
            400,
            json!({"date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        );
    user_details(&session.bearer()).await.expect(200, session.user.clone());

    let changes = json!({"gender": "male", "date_of_birth": "1990-02-03"});
    update_user("PATCH", &session.bearer(), changes.clone())
        .await
        .expect(200, user_with(&session, changes));
    let cleared = json!({"gender": "", "date_of_birth": null});
    update_user("PUT", &session.bearer(), cleared.clone())
        .await
        .expect(200, user_with(&session, cleared.clone()));
    user_details(&session.bearer())
        .await
        .expect(200, user_with(&session, cleared));
}

#[tokio::test]
async fn a_form_body_is_read_like_json() {
    let session = new_user().await;
    let form = format!("first_name={}&gender=female", form_value("Zoë"));
    let headers = [
        ("authorization", session.bearer()),
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    send("PATCH", USER, &headers, Some(form)).await.expect(
        200,
        user_with(&session, json!({"first_name": "Zoë", "gender": "female"})),
    );
}

#[tokio::test]
async fn a_logged_out_session_can_neither_read_nor_write_and_the_others_can() {
    let session = full_user().await;
    let other = login(&session.email).await;
    logout(&session.refresh)
        .await
        .expect(200, json!({"detail": "Successfully logged out."}));
    user_details(&session.bearer()).await.expect_challenge(access_invalid());
    for method in ["PUT", "PATCH"] {
        update_user(method, &session.bearer(), json!({"first_name": "Eve"}))
            .await
            .expect_challenge(access_invalid());
    }
    user_details(&other.bearer()).await.expect(200, session.user.clone());
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_access_to_the_details() {
    let session = full_user().await;
    let other = login(&session.email).await;
    change_password(&session.bearer(), new_password_body())
        .await
        .expect(200, json!({"detail": "New password has been saved."}));
    update_user("PATCH", &other.bearer(), json!({"first_name": "Eve"}))
        .await
        .expect_challenge(access_invalid());
    user_details(&session.bearer()).await.expect(200, session.user.clone());
}

#[tokio::test]
async fn options_answers_without_a_token() {
    for path in [USER, USER.trim_end_matches('/')] {
        let answer = send("OPTIONS", path, &[], None).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.header("allow"), Some("GET, PUT, PATCH, HEAD, OPTIONS"));
        assert_eq!(answer.json()["name"], "User Details");
    }
}

/// These need the stack's table: `make smoke` skips them.
mod white_box {
    use super::*;

    #[tokio::test]
    async fn a_deactivated_user_cannot_write_and_stays_deactivated() {
        let session = full_user().await;
        set_active(session.pk(), false).await;
        update_user("PATCH", &session.bearer(), json!({"first_name": "Eve"}))
            .await
            .expect_challenge(user_inactive());
        assert_eq!(
            user_attribute(session.pk(), "is_active").await,
            Some(aws_sdk_dynamodb::types::AttributeValue::Bool(false))
        );
        set_active(session.pk(), true).await;
        user_details(&session.bearer()).await.expect(200, session.user.clone());
    }
}
