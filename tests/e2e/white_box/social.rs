//! Social login end to end, through the real OpenID Connect provider `make test` starts
//! (tools/oidc: panva's oidc-provider as "google" and "kakao", with fakes of Kakao's and
//! Google's other APIs and of Naver). White box only in needing that provider (its `/control/`
//! routes drive its own login pages): `make smoke` has none beside a deployed stack.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::*;
use serde_json::{Value, json};

const CODE_REFUSED: &str = "Failed to exchange code for access token";
const INCORRECT_VALUE: &str = "Incorrect value";
const ALREADY_REGISTERED: &str = "User is already registered with this e-mail address.";
const CONNECTED_ELSEWHERE: &str = "The third-party account is already connected to a different account.";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

fn social(provider: &str) -> String {
    format!("/account/social/{provider}/")
}

fn connect_path(provider: &str) -> String {
    format!("/account/social/{provider}/connect/")
}

const ACCOUNTS: &str = SOCIAL_ACCOUNTS;

fn provider_url() -> String {
    std::env::var("E2E_SOCIAL_PROVIDER_URL")
        .expect("E2E_SOCIAL_PROVIDER_URL is not set: the social tests need the local provider `make test` starts")
}

/// A control route of the local provider.
async fn control(route: &str, body: Value) -> Value {
    let response = client()
        .post(format!("{}/control/{route}", provider_url()))
        .json(&body)
        .send()
        .await
        .expect("the local provider answers");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "control/{route}: {status} {body}");
    body
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.2).
fn pkce() -> (String, String) {
    let verifier = format!("{}{}", random_hex(), random_hex());
    let challenge = URL_SAFE_NO_PAD.encode(shared::tokens::jws::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// The provider's login page passed as `login`, by the authorization-code flow with PKCE and a
/// nonce: the code, its verifier and the nonce.
async fn authorized(provider: &str, login: &str) -> (String, String, String) {
    let (verifier, challenge) = pkce();
    let nonce = random_hex();
    let flow = control(
        "flow",
        json!({"provider": provider, "login": login, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}),
    )
    .await;
    (flow["code"].as_str().expect("a code").to_owned(), verifier, nonce)
}

/// Tokens the provider issued to `client_id` (ours by default) for `login`, as a mobile SDK
/// would hold them: `id_token`, `access_token`.
async fn sdk_tokens(provider: &str, login: &str, client_id: Option<&str>) -> Value {
    let mut body = json!({"provider": provider, "login": login, "exchange": true, "nonce": random_hex()});
    if let Some(client_id) = client_id {
        body["client_id"] = json!(client_id);
    }
    control("flow", body).await
}

async fn sign_in_with_code(provider: &str, login: &str) -> Answer {
    let (code, verifier, nonce) = authorized(provider, login).await;
    post_json(
        &social(provider),
        json!({"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI, "nonce": nonce}),
    )
    .await
}

#[track_caller]
fn refused(answer: &Answer, message: &str) {
    answer.expect(400, json!({"non_field_errors": [message]}));
}

/// Signed in: login's answer (tokens, user, cookies); the user's pk.
#[track_caller]
fn signed_in(answer: &Answer, email: &str) -> (u64, String) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["user"]["email"], email);
    assert!(answer.cookie("my-app-auth").is_some() && answer.cookie("my-refresh-token").is_some());
    (
        body["user"]["pk"].as_u64().expect("pk"),
        body["access"].as_str().expect("access").to_owned(),
    )
}

async fn links(access: &str) -> Value {
    let answer = get(ACCOUNTS, &[("authorization", &bearer(access))]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

/// A user who joined with a password and followed the confirmation link: a verified address.
async fn verified_user() -> Session {
    let session = new_user().await;
    let mails = mails_to(&session.email, Mailed::Confirmation);
    let link = link_in(mails.last().expect("join mailed a confirmation link"));
    let key = link.rsplit('/').next().expect("key");
    post_json(VERIFY_EMAIL, json!({"key": key}))
        .await
        .expect(200, json!({"detail": "ok"}));
    session
}

#[tokio::test]
async fn a_google_code_with_pkce_makes_a_user_signs_them_in_and_works_once() {
    let email = unique_email();
    let (code, verifier, nonce) = authorized("google", &email).await;
    let body = json!({"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI, "nonce": nonce});
    let (pk, access) = signed_in(&post_json(&social("google"), body.clone()).await, &email);
    assert_greeted(&mypage(&bearer(&access)).await, &email);
    let listed = links(&access).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["provider"], "google");
    assert!(
        listed[0]["uid"]
            .as_str()
            .is_some_and(|uid| uid.bytes().all(|b| b.is_ascii_digit()))
    );
    // The provider refuses a code spent already: no second session from it.
    refused(&post_json(&social("google"), body).await, CODE_REFUSED);
    // The same person again, with a new code: the same user.
    let (again, _) = signed_in(&sign_in_with_code("google", &email).await, &email);
    assert_eq!(again, pk);
    // A password login is impossible: the account has none.
    post_json(LOGIN, json!({"email": email, "password": ""}))
        .await
        .expect(400, json!({"password": ["This field may not be blank."]}));
}

#[tokio::test]
async fn a_wrong_pkce_verifier_a_wrong_nonce_or_a_foreign_redirect_is_refused() {
    let email = unique_email();
    let (code, _, nonce) = authorized("google", &email).await;
    let (other_verifier, _) = pkce();
    let answer = post_json(
        &social("google"),
        json!({"code": code, "code_verifier": other_verifier, "redirect_uri": REDIRECT_URI, "nonce": nonce}),
    )
    .await;
    refused(&answer, CODE_REFUSED);
    let (code, verifier, _) = authorized("google", &email).await;
    let answer = post_json(
        &social("google"),
        json!({"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI, "nonce": "not-the-nonce"}),
    )
    .await;
    refused(&answer, INCORRECT_VALUE);
    let (code, verifier, nonce) = authorized("google", &email).await;
    let answer = post_json(
        &social("google"),
        json!({"code": code, "code_verifier": verifier, "redirect_uri": "http://127.0.0.1/elsewhere", "nonce": nonce}),
    )
    .await;
    refused(&answer, CODE_REFUSED);
    // None of them made an account.
    post_json(PASSWORD_RESET, json!({"email": email})).await;
    assert!(mails_to(&email, Mailed::Reset).is_empty(), "no user has {email}");
}

#[tokio::test]
async fn a_google_id_token_signs_in_once_and_one_for_another_app_never() {
    let email = unique_email();
    let tokens = sdk_tokens("google", &email, None).await;
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    signed_in(
        &post_json(&social("google"), json!({"id_token": id_token})).await,
        &email,
    );
    // Replayed: refused, though it is still valid at the provider.
    refused(
        &post_json(&social("google"), json!({"id_token": id_token})).await,
        INCORRECT_VALUE,
    );
    // Issued to another app: its audience is not us.
    let foreign = sdk_tokens("google", &unique_email(), Some("other-app-client")).await;
    let answer = post_json(&social("google"), json!({"id_token": foreign["id_token"]})).await;
    refused(&answer, INCORRECT_VALUE);
    let answer = post_json(&social("google"), json!({"access_token": foreign["access_token"]})).await;
    refused(&answer, INCORRECT_VALUE);
    // Tampered with: the signature no longer holds.
    let fresh = sdk_tokens("google", &email, None).await;
    let fresh = fresh["id_token"].as_str().expect("an ID token");
    let mut parts: Vec<&str> = fresh.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["email"] = json!(unique_email());
    let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
    parts[1] = &forged;
    refused(
        &post_json(&social("google"), json!({"id_token": parts.join(".")})).await,
        INCORRECT_VALUE,
    );
    // Not even a JWS.
    refused(
        &post_json(&social("google"), json!({"id_token": "garbage"})).await,
        INCORRECT_VALUE,
    );
}

#[tokio::test]
async fn a_google_access_token_is_taken_once_tokeninfo_says_it_is_ours() {
    let email = unique_email();
    let tokens = sdk_tokens("google", &email, None).await;
    let answer = post_json(&social("google"), json!({"access_token": tokens["access_token"]})).await;
    signed_in(&answer, &email);
    refused(
        &post_json(&social("google"), json!({"access_token": "not-a-token"})).await,
        INCORRECT_VALUE,
    );
}

#[tokio::test]
async fn kakao_signs_in_by_code_and_by_its_apps_access_token_only() {
    let email = unique_email();
    let (pk, _) = signed_in(&sign_in_with_code("kakao", &email).await, &email);
    let tokens = sdk_tokens("kakao", &email, None).await;
    let (again, access) = signed_in(
        &post_json(&social("kakao"), json!({"access_token": tokens["access_token"]})).await,
        &email,
    );
    assert_eq!(again, pk);
    assert_eq!(links(&access).await[0]["provider"], "kakao");
    // Another Kakao app's token (its access_token_info names another app id).
    let foreign = sdk_tokens("kakao", &email, Some("other-app-client")).await;
    refused(
        &post_json(&social("kakao"), json!({"access_token": foreign["access_token"]})).await,
        INCORRECT_VALUE,
    );
}

#[tokio::test]
async fn a_verified_account_is_linked_by_a_verified_address_and_an_unverified_one_never() {
    let session = verified_user().await;
    // Google vouches for the address, and the account proved it owns it: linked.
    let (pk, access) = signed_in(&sign_in_with_code("google", &session.email).await, &session.email);
    assert_eq!(pk, session.pk(), "the existing account");
    assert_eq!(links(&access).await[0]["provider"], "google");
    login(&session.email).await; // the password still works
    // Naver never vouches for an address: refused, though the account is verified.
    let code = control("naver-code", json!({"login": session.email})).await;
    refused(
        &post_json(&social("naver"), json!({"code": code["code"], "state": code["state"]})).await,
        ALREADY_REGISTERED,
    );
    // Kakao's ID token carries no verified flag either.
    let tokens = sdk_tokens("kakao", &session.email, None).await;
    refused(
        &post_json(&social("kakao"), json!({"id_token": tokens["id_token"]})).await,
        ALREADY_REGISTERED,
    );
    // An account that never proved its address is not linked, whoever vouches.
    let unproven = new_user().await;
    refused(&sign_in_with_code("google", &unproven.email).await, ALREADY_REGISTERED);
    // The provider says it did not verify the address: refused too.
    let unverified = format!("unverified-{}", unique_email());
    let (pk, _) = signed_in(&sign_in_with_code("google", &unverified).await, &unverified);
    assert!(
        pk > 0,
        "a new person with an unverified address joins (as an unverified user)"
    );
}

#[tokio::test]
async fn naver_signs_in_by_code_only() {
    let email = unique_email();
    let code = control("naver-code", json!({"login": email})).await;
    let body = json!({"code": code["code"], "state": code["state"]});
    signed_in(&post_json(&social("naver"), body.clone()).await, &email);
    refused(&post_json(&social("naver"), body).await, CODE_REFUSED);
    refused(
        &post_json(&social("naver"), json!({"access_token": "any"})).await,
        "This provider signs in with an authorization code only.",
    );
    // No address shared: no account.
    let code = control("naver-code", json!({"login": format!("noemail-{}", random_hex())})).await;
    refused(
        &post_json(&social("naver"), json!({"code": code["code"], "state": code["state"]})).await,
        "The provider did not share an e-mail address. Allow it at the provider, or join with a password.",
    );
}

#[tokio::test]
async fn a_user_connects_a_provider_account_nobody_else_can_take_it_and_disconnects_it() {
    let ada = new_user().await;
    let (code, verifier, nonce) = authorized("google", &unique_email()).await;
    let body = json!({"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI, "nonce": nonce});
    let answer = post_json_with(&connect_path("google"), body, &[("authorization", &ada.bearer())]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let link = answer.json();
    assert_eq!(link["provider"], "google");
    assert_eq!(links(&ada.access).await, json!([link.clone()]));
    // Nobody else can remove it.
    let bob = new_user().await;
    let id = link["id"].as_u64().expect("id");
    let answer = post_json_with(
        &format!("/account/socialaccounts/{id}/disconnect/"),
        json!({}),
        &[("authorization", &bob.bearer())],
    )
    .await;
    answer.expect(404, json!({"detail": "Not found."}));
    let answer = post_json_with(
        &format!("/account/socialaccounts/{id}/disconnect/"),
        json!({}),
        &[("authorization", &ada.bearer())],
    )
    .await;
    answer.expect(200, json!({}));
    assert_eq!(links(&ada.access).await, json!([]));
}

#[tokio::test]
async fn a_provider_account_linked_to_one_user_cannot_be_connected_by_another() {
    let email = unique_email();
    let (holder, _) = signed_in(&sign_in_with_code("google", &email).await, &email);
    let bob = new_user().await;
    let (code, verifier, nonce) = authorized("google", &email).await;
    let answer = post_json_with(
        &connect_path("google"),
        json!({"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI, "nonce": nonce}),
        &[("authorization", &bob.bearer())],
    )
    .await;
    refused(&answer, CONNECTED_ELSEWHERE);
    assert_eq!(links(&bob.access).await, json!([]));
    // The holder still signs in with it.
    let (again, access) = signed_in(&sign_in_with_code("google", &email).await, &email);
    assert_eq!(again, holder);
    // Its only way in: the link cannot be removed.
    let id = links(&access).await[0]["id"].as_u64().expect("id");
    post_json_with(
        &format!("/account/socialaccounts/{id}/disconnect/"),
        json!({}),
        &[("authorization", &bearer(&access))],
    )
    .await
    .expect(
        400,
        json!({"non_field_errors": ["Your account has no password set up."]}),
    );
}

#[tokio::test]
async fn an_id_token_signed_after_the_providers_key_rotation_is_verified() {
    let email = unique_email();
    // Before: the functions cache the provider's keys.
    let tokens = sdk_tokens("kakao", &email, None).await;
    signed_in(
        &post_json(&social("kakao"), json!({"id_token": tokens["id_token"]})).await,
        &email,
    );
    let rotated = control("rotate", json!({"provider": "kakao"})).await;
    let tokens = sdk_tokens("kakao", &email, None).await;
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(id_token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], rotated["kid"], "signed with the new key");
    signed_in(
        &post_json(&social("kakao"), json!({"id_token": id_token})).await,
        &email,
    );
}

/// Alone (`make test` runs it after the others): it takes the provider down.
#[tokio::test]
#[ignore = "takes the local provider down: run alone"]
async fn a_provider_outage_down_or_slow_gives_503_and_never_a_hang() {
    for mode in ["down", "slow"] {
        let (code, verifier, nonce) = authorized("google", &unique_email()).await;
        control("outage", json!({"provider": "google", "mode": mode})).await;
        let answer = post_json(
            &social("google"),
            json!({"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI, "nonce": nonce}),
        )
        .await;
        control("outage", json!({"provider": "google", "mode": "off"})).await;
        assert_eq!(answer.status, 503, "{mode}: {}", answer.text);
        assert_eq!(answer.header("retry-after"), Some("1"), "{mode}");
    }
}
