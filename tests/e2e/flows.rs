//! The whole life of an account, route by route.

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn join_login_mypage_refresh_change_logout() {
    let email = unique_email();
    let joined = join(&email).await;
    assert_eq!(joined.user["email"], email.as_str());

    let session = login(&email.to_uppercase()).await;
    let page = mypage(&session.bearer()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.json(), json!({"message": format!("반갑습니다, {email}님!")}));

    let refreshed = post_json("/account/token/refresh/", json!({"refresh": session.refresh})).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let new_refresh = refreshed.json()["refresh"].as_str().expect("rotated").to_owned();

    let new_password = "Another-Pw!5521";
    let changed = post_json_with(
        "/account/password/change/",
        password_change_body(PASSWORD, new_password),
        &[("authorization", &session.bearer())],
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(
        mypage(&joined.bearer()).await.status,
        401,
        "the join session was revoked"
    );

    let out = post_json("/account/logout/", json!({"refresh": new_refresh})).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(
        mypage(&session.bearer()).await.status,
        401,
        "logout revokes access tokens at once"
    );
}
