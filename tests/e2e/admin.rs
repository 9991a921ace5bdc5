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

/// The other admin routes refuse anyone but staff, over the real router: no token 401, a user
/// who is not staff DRF's 403 (a pk of their own or anyone's).
#[tokio::test]
async fn every_admin_route_answers_401_without_a_token_and_403_to_a_user_who_is_not_staff() {
    let user = new_user().await;
    let pk = user.user["pk"].as_u64().expect("pk");
    let bearer = user.bearer();
    let routes = [
        ("GET", format!("/account/admin/users/{pk}/")),
        ("PATCH", format!("/account/admin/users/{pk}")),
        ("DELETE", format!("/account/admin/users/{pk}/")),
        ("POST", format!("/account/admin/users/{pk}/sign-out/")),
        ("POST", format!("/account/admin/users/{pk}/password-reset")),
        ("GET", "/account/admin/events/".to_owned()),
    ];
    for (method, path) in &routes {
        let anonymous = send(method, path, &[], Some("{}".into())).await;
        assert_eq!(anonymous.status, 401, "{method} {path}: {}", anonymous.text);
        let answer = send(
            method,
            path,
            &[("authorization", &bearer), ("content-type", "application/json")],
            Some("{}".into()),
        )
        .await;
        assert_eq!(
            (answer.status, answer.json()),
            (403, json!({"detail": FORBIDDEN})),
            "{method} {path}"
        );
    }
    assert_eq!(mypage(&bearer).await.status, 200, "nothing happened to the user");
}

mod white_box_actions {
    use super::*;

    async fn call(method: &str, path: &str, bearer: &str, body: Option<Value>) -> Answer {
        let headers = [("authorization", bearer), ("content-type", "application/json")];
        send(method, path, &headers, body.map(|body| body.to_string())).await
    }

    /// A staff member reads a user, edits them, deactivates them (their tokens say so at once),
    /// signs them out, reactivates them (their old tokens stay dead), finds it all in the event
    /// log, and deletes them: over the real router, each route its own function.
    #[tokio::test]
    async fn staff_read_change_deactivate_sign_out_and_delete_a_user_with_every_step_logged() {
        let staff = new_user().await;
        let staff_pk = staff.user["pk"].as_u64().expect("pk");
        set_staff(staff_pk, true).await;
        let target = new_user().await;
        let pk = target.user["pk"].as_u64().expect("pk");
        let item = format!("/account/admin/users/{pk}/");

        let view = call("GET", &item, &staff.bearer(), None).await;
        assert_eq!(view.status, 200, "{}", view.text);
        let body = view.json();
        assert_eq!(body["email"], target.email.as_str());
        assert_eq!(body["sessions"].as_array().map(Vec::len), Some(1));
        assert!(!view.text.contains("argon2"), "no hash: {}", view.text);

        let renamed = call("PATCH", &item, &staff.bearer(), Some(json!({"first_name": "Grace"}))).await;
        assert_eq!(
            (renamed.status, renamed.json()["first_name"].clone()),
            (200, json!("Grace"))
        );
        let refused = call("PATCH", &item, &staff.bearer(), Some(json!({"is_staff": true}))).await;
        assert_eq!(refused.status, 403, "only a superuser changes the flags");

        let deactivated = call("PATCH", &item, &staff.bearer(), Some(json!({"is_active": false}))).await;
        assert_eq!(deactivated.status, 200, "{}", deactivated.text);
        mypage(&target.bearer()).await.expect_challenge(user_inactive());
        assert_eq!(refresh(&target.refresh).await.status, 401);

        let signed_out = call("POST", &format!("{item}sign-out/"), &staff.bearer(), None).await;
        assert_eq!(
            (signed_out.status, signed_out.json()),
            (200, json!({"revoked": 0})),
            "none live any more"
        );
        let reactivated = call("PATCH", &item, &staff.bearer(), Some(json!({"is_active": true}))).await;
        assert_eq!(reactivated.status, 200);
        mypage(&target.bearer()).await.expect_challenge(access_invalid());

        let log = get(
            &format!("/account/admin/events/?user={pk}"),
            &[("authorization", &staff.bearer())],
        )
        .await;
        assert_eq!(log.status, 200, "{}", log.text);
        let kinds: Vec<String> = log.json()["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|event| event["type"].as_str().expect("a type").to_owned())
            .collect();
        assert_eq!(
            kinds[..4],
            ["admin_update", "admin_sign_out", "admin_update", "admin_update"]
        );
        assert!(kinds.contains(&"join".to_owned()), "{kinds:?}");

        assert_eq!(call("DELETE", &item, &staff.bearer(), None).await.status, 204);
        assert_eq!(call("GET", &item, &staff.bearer(), None).await.status, 404);
        assert_eq!(user_attribute(pk, "email").await, None, "the user item is gone");
    }

    /// Bad input gets its answer through the router: a segment that is no pk 400, an unknown
    /// pk 404, a method the route does not take 405.
    #[tokio::test]
    async fn a_malformed_pk_is_400_an_unknown_one_404_and_put_405() {
        let staff = new_user().await;
        set_staff(staff.user["pk"].as_u64().expect("pk"), true).await;
        let bad = call("GET", "/account/admin/users/abc/", &staff.bearer(), None).await;
        assert_eq!(
            (bad.status, bad.json()),
            (400, json!({"pk": ["A valid integer is required."]}))
        );
        let unknown = call("POST", "/account/admin/users/999999999/sign-out", &staff.bearer(), None).await;
        assert_eq!((unknown.status, unknown.json()), (404, json!({"detail": "Not found."})));
        let put = call("PUT", "/account/admin/users/1/", &staff.bearer(), Some(json!({}))).await;
        assert_eq!(put.status, 405);
    }
}
