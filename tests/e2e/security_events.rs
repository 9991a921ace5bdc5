//! GET /account/events/ (issue 28): the bearer's own security events over real HTTP — what
//! join, login (a wrong password, then the right one), password change and logout recorded,
//! newest first, paged by a cursor that continues only the bearer's own list.

use e2e::*;
use serde_json::{Value, json};

mod unauthorized_list {
    e2e::protected_route_401s!(Protected::Events);
}

async fn events(bearer: &str, query: &str) -> Answer {
    get(&format!("{EVENTS}{query}"), &[("authorization", bearer)]).await
}

/// The `type`s of a page, in its order.
fn types(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|event| event["type"].as_str().expect("a type").to_owned())
        .collect()
}

#[tokio::test]
async fn what_happened_to_an_account_is_listed_newest_first() {
    let joined = new_user().await;
    let wrong = post_json(LOGIN, json!({"email": joined.email, "password": "Wrong-Guess!4402"})).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    let session = login(&joined.email).await;
    let changed = post_json_with(
        PASSWORD_CHANGE,
        json!({"old_password": PASSWORD, "new_password1": "Brand-New-Pw!4242", "new_password2": "Brand-New-Pw!4242"}),
        &[("authorization", &session.bearer())],
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);

    let answer = events(&session.bearer(), "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("allow"), Some("GET, HEAD, OPTIONS"));
    let body = answer.json();
    assert_eq!(
        types(&body),
        ["password_changed", "login", "login_failed", "join"],
        "{body}"
    );
    assert_eq!(body["next"], Value::Null);
    let pk = joined.user["pk"].clone();
    let failed = &body["results"][2];
    assert_eq!(failed["user"], pk);
    assert_eq!(failed["actor"], Value::Null);
    assert_eq!(failed["detail"], json!({"reason": "wrong_password"}));
    assert_eq!(body["results"][1]["actor"], pk);
    assert!(
        !answer.text.contains(&joined.email),
        "no address in the events: {}",
        answer.text
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_and_another_users_cursor_is_refused() {
    let ada = new_user().await;
    for _ in 0..2 {
        login(&ada.email).await;
    }
    let bob = new_user().await;
    login(&bob.email).await;

    let mut query = "?limit=2".to_owned();
    let mut seen = Vec::new();
    loop {
        let answer = events(&ada.bearer(), &query).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        seen.extend(types(&body));
        match body["next"].as_str() {
            Some(next) => query = format!("?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["login", "login", "join"]);

    let bobs = events(&bob.bearer(), "?limit=1").await.json();
    let cursor = bobs["next"].as_str().expect("bob has a second page");
    let refused = events(&ada.bearer(), &format!("?cursor={cursor}")).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json(), json!({"cursor": ["Invalid cursor."]}));
    let limit = events(&ada.bearer(), "?limit=0").await;
    assert_eq!(limit.status, 400, "{}", limit.text);
    assert_eq!(
        limit.json(),
        json!({"limit": ["Ensure this value is a whole number from 1 to 100."]})
    );
}
