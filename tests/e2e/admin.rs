//! The admin routes (issue 28) over real HTTP: GET /account/admin/users/ lists users for staff
//! in email order by a prefix and the flags; everyone else is refused. Making a user staff
//! needs the table (as `account-admin` does on AWS): those tests are `white_box`.

use e2e::*;
use serde_json::{Value, json};

mod unauthorized_list {
    e2e::protected_route_401s!(Protected::AdminUsers);
}

const FORBIDDEN: &str = "You do not have permission to perform this action.";

async fn admin_users(bearer: &str, query: &str) -> Answer {
    get(&format!("{ADMIN_USERS}{query}"), &[("authorization", bearer)]).await
}

#[tokio::test]
async fn a_user_who_is_not_staff_is_refused_with_drfs_403() {
    let user = new_user().await;
    let answer = admin_users(&user.bearer(), "").await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(answer.json(), json!({"detail": FORBIDDEN}));
}

mod white_box {
    use super::*;

    /// The emails of a page, in order.
    fn emails(body: &Value) -> Vec<String> {
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|user| user["email"].as_str().expect("an email").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn staff_list_users_by_prefix_and_flags_a_page_at_a_time_and_lose_it_when_demoted() {
        let staff = new_user().await;
        let pk = staff.user["pk"].as_u64().expect("pk");
        set_staff(pk, true).await;
        // Users of one prefix of their own, so other tests' users stay out of the counts.
        let prefix = format!("adm{}", random_hex()[..8].to_owned());
        let mut created = Vec::new();
        for name in ["c", "a", "b"] {
            let user = join(&format!("{prefix}-{name}@example.com")).await;
            created.push(user);
        }
        let inactive = created[2].user["pk"].as_u64().expect("pk");
        set_active(inactive, false).await;

        let answer = admin_users(&staff.bearer(), &format!("?q={}", prefix.to_uppercase())).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let expected: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|name| format!("{prefix}-{name}@example.com"))
            .collect();
        assert_eq!(emails(&answer.json()), expected);
        assert!(!answer.text.contains("argon2"), "no hash: {}", answer.text);

        let mut seen = Vec::new();
        let mut query = format!("?q={prefix}&limit=2");
        loop {
            let body = admin_users(&staff.bearer(), &query).await.json();
            seen.extend(emails(&body));
            match body["next"].as_str() {
                Some(next) => query = format!("?q={prefix}&limit=2&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen, expected);
        let active = admin_users(&staff.bearer(), &format!("?q={prefix}&is_active=true")).await;
        assert_eq!(emails(&active.json()), [expected[0].clone(), expected[2].clone()]);

        // Staff as the store says now: demoted, refused at once, with the same token.
        set_staff(pk, false).await;
        let answer = admin_users(&staff.bearer(), "").await;
        assert_eq!(answer.status, 403, "{}", answer.text);
    }
}
