//! The social store's contract (provider links, the ID token replay cache), run against both
//! stores as `store_contract.rs` runs the rest: memory, and DynamoDB on the local server.

#[macro_use]
mod common;

use std::sync::Arc;

use common::{Harness, a_session, joined, new_user};
use shared::store::{LinkOutcome, NewSocialLink, SocialLink, SocialRegistration, UNUSABLE_PASSWORD_PREFIX};

contract!(
    a_social_user_comes_with_its_link_and_is_found_by_it,
    a_first_social_login_never_takes_an_address_or_a_provider_account_twice,
    racing_first_logins_of_one_provider_account_make_one_user,
    a_link_to_an_existing_user_is_counted_and_refused_to_anyone_else,
    a_link_is_made_only_while_the_user_is_active_at_the_epoch_read,
    an_unlink_holds_only_while_the_count_read_holds,
    racing_unlinks_of_the_last_two_links_leave_one,
    a_stale_link_is_forgotten_only_if_its_user_is_gone,
    an_id_token_is_accepted_once,
);

fn link(provider: &str, uid: &str) -> NewSocialLink {
    NewSocialLink {
        provider: provider.to_owned(),
        uid: uid.to_owned(),
        at: "2026-12-06T05:00:00Z".to_owned(),
    }
}

fn social_user(email: &str) -> shared::store::NewUser {
    let mut user = new_user(email);
    user.password_hash = format!("{UNUSABLE_PASSWORD_PREFIX}unusable");
    user
}

async fn created<S: Harness>(store: &S, email: &str, provider: &str, uid: &str) -> (shared::store::User, SocialLink) {
    match store
        .create_social_user(social_user(email), true, link(provider, uid), Some(a_session()), &[])
        .await
        .unwrap()
    {
        SocialRegistration::Created(user, link) => (user, link),
        other => panic!("not created: {other:?}"),
    }
}

async fn a_social_user_comes_with_its_link_and_is_found_by_it<S: Harness>() {
    let store = S::fresh().await;
    let (user, made) = created(&store, "sun@example.com", "google", "1001").await;
    assert!(!user.has_usable_password());
    assert!(user.email_verified, "the provider's flag");
    assert_eq!(user.social_links, 1);
    assert!(user.last_login.is_some(), "a first session started");
    assert_eq!(
        (made.user_id, made.provider.as_str(), made.uid.as_str()),
        (user.id, "google", "1001")
    );
    assert_eq!(
        store.find_social_link("google", "1001").await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(
        store.find_social_link("kakao", "1001").await.unwrap(),
        None,
        "per provider"
    );
    assert_eq!(store.social_links_of(user.id).await.unwrap(), vec![made.clone()]);
    assert_eq!(
        store.find_by_email("sun@example.com").await.unwrap(),
        Some(user.clone())
    );

    store.record_social_login(&made, "2026-12-06T06:00:00Z").await.unwrap();
    let found = store.find_social_link("google", "1001").await.unwrap().unwrap();
    assert_eq!(found.last_login, "2026-12-06T06:00:00Z");
    assert_eq!(found.date_joined, made.date_joined);

    // Without a first session (mandatory verification of an unverified address): no login yet.
    let SocialRegistration::Created(later, _) = store
        .create_social_user(social_user("moon@example.com"), false, link("naver", "abc"), None, &[])
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    assert!(later.last_login.is_none());
    assert!(!later.email_verified);
}

async fn a_first_social_login_never_takes_an_address_or_a_provider_account_twice<S: Harness>() {
    let store = S::fresh().await;
    let (local, _) = joined(&store, "taken@example.com").await;
    let outcome = store
        .create_social_user(
            social_user("taken@example.com"),
            true,
            link("google", "1"),
            Some(a_session()),
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(outcome, SocialRegistration::EmailTaken), "{outcome:?}");
    assert_eq!(
        store.find_social_link("google", "1").await.unwrap(),
        None,
        "no link left behind"
    );
    assert_eq!(store.find_by_email("taken@example.com").await.unwrap(), Some(local));

    created(&store, "first@example.com", "google", "2").await;
    let outcome = store
        .create_social_user(
            social_user("second@example.com"),
            true,
            link("google", "2"),
            Some(a_session()),
            &[],
        )
        .await
        .unwrap();
    assert!(matches!(outcome, SocialRegistration::LinkTaken), "{outcome:?}");
    assert!(
        !store.email_registered("second@example.com").await.unwrap(),
        "no user left behind"
    );
}

async fn racing_first_logins_of_one_provider_account_make_one_user<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let attempts = (0..8).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .create_social_user(
                    social_user(&format!("racer{i}@example.com")),
                    true,
                    link("kakao", "77"),
                    Some(a_session()),
                    &[],
                )
                .await
                .unwrap()
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners = outcomes
        .iter()
        .filter(|outcome| matches!(outcome.as_ref().unwrap(), SocialRegistration::Created(..)))
        .count();
    assert_eq!(winners, 1);
    let mut registered = 0;
    for i in 0..8 {
        registered += usize::from(store.email_registered(&format!("racer{i}@example.com")).await.unwrap());
    }
    assert_eq!(registered, 1, "the losers left no user behind");
}

async fn a_link_to_an_existing_user_is_counted_and_refused_to_anyone_else<S: Harness>() {
    let store = S::fresh().await;
    let (ada, _) = joined(&store, "ada@example.com").await;
    let (bob, _) = joined(&store, "bob@example.com").await;
    let LinkOutcome::Linked(made) = store
        .link_social_account(&ada, link("google", "g-ada"), &[])
        .await
        .unwrap()
    else {
        panic!("not linked")
    };
    assert_eq!(made.user_id, ada.id);
    let ada = store.find_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(ada.social_links, 1);
    assert!(ada.has_usable_password(), "a link never touches the password");
    // Again by the same user: the same link, nothing counted twice.
    assert_eq!(
        store
            .link_social_account(&ada, link("google", "g-ada"), &[])
            .await
            .unwrap(),
        LinkOutcome::AlreadyLinked(made.clone())
    );
    // By anyone else: refused, naming the holder.
    assert_eq!(
        store
            .link_social_account(&bob, link("google", "g-ada"), &[])
            .await
            .unwrap(),
        LinkOutcome::TakenBy(ada.id)
    );
    assert_eq!(store.find_by_id(bob.id).await.unwrap().unwrap().social_links, 0);
    let LinkOutcome::Linked(second) = store
        .link_social_account(&ada, link("naver", "n-ada"), &[])
        .await
        .unwrap()
    else {
        panic!("not linked")
    };
    assert!(second.id > made.id);
    assert_eq!(store.social_links_of(ada.id).await.unwrap(), vec![made, second]);
    assert_eq!(store.find_by_id(ada.id).await.unwrap().unwrap().social_links, 2);
}

async fn a_link_is_made_only_while_the_user_is_active_at_the_epoch_read<S: Harness>() {
    let store = S::fresh().await;
    let (ada, session) = joined(&store, "ada@example.com").await;
    store.set_active(ada.id, false).await;
    assert_eq!(
        store.link_social_account(&ada, link("google", "1"), &[]).await.unwrap(),
        LinkOutcome::UserChanged
    );
    assert_eq!(
        store.find_social_link("google", "1").await.unwrap(),
        None,
        "no claim left behind"
    );
    store.set_active(ada.id, true).await;
    // A password change since the read.
    assert!(
        store
            .change_password(ada.id, &session.id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.link_social_account(&ada, link("google", "1"), &[]).await.unwrap(),
        LinkOutcome::UserChanged
    );
    assert!(store.social_links_of(ada.id).await.unwrap().is_empty());
}

async fn an_unlink_holds_only_while_the_count_read_holds<S: Harness>() {
    let store = S::fresh().await;
    let (user, google) = created(&store, "sun@example.com", "google", "1").await;
    let LinkOutcome::Linked(kakao) = store.link_social_account(&user, link("kakao", "2"), &[]).await.unwrap() else {
        panic!("not linked")
    };
    // `user` was read with one link: a second was made since, so the unlink is refused.
    assert!(!store.unlink_social_account(&user, &google, &[]).await.unwrap());
    let user = store.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(user.social_links, 2);
    assert!(store.unlink_social_account(&user, &google, &[]).await.unwrap());
    assert_eq!(
        store.find_social_link("google", "1").await.unwrap(),
        None,
        "the claim went too"
    );
    assert_eq!(store.social_links_of(user.id).await.unwrap(), vec![kakao]);
    let user = store.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(user.social_links, 1);
    // The provider account is free again: another user may link it.
    let (other, _) = joined(&store, "other@example.com").await;
    assert!(matches!(
        store
            .link_social_account(&other, link("google", "1"), &[])
            .await
            .unwrap(),
        LinkOutcome::Linked(_)
    ));
}

async fn racing_unlinks_of_the_last_two_links_leave_one<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let (user, google) = created(store.as_ref(), "sun@example.com", "google", "1").await;
    let LinkOutcome::Linked(kakao) = store.link_social_account(&user, link("kakao", "2"), &[]).await.unwrap() else {
        panic!("not linked")
    };
    // Both requests read the user with two links, so each alone would pass the last-way check.
    let user = store.find_by_id(user.id).await.unwrap().unwrap();
    let unlinks = [google, kakao].map(|link| {
        let (store, user) = (Arc::clone(&store), user.clone());
        tokio::spawn(async move { store.unlink_social_account(&user, &link, &[]).await.unwrap() })
    });
    let done = futures::future::join_all(unlinks).await;
    assert_eq!(done.iter().filter(|done| *done.as_ref().unwrap()).count(), 1);
    assert_eq!(
        store.social_links_of(user.id).await.unwrap().len(),
        1,
        "a way to sign in is left"
    );
}

async fn a_stale_link_is_forgotten_only_if_its_user_is_gone<S: Harness>() {
    let store = S::fresh().await;
    let (user, made) = created(&store, "sun@example.com", "google", "1").await;
    store.forget_stale_link(&made).await.unwrap();
    assert!(
        store.find_social_link("google", "1").await.unwrap().is_some(),
        "its user exists"
    );
    store.delete_user_item(user.id).await;
    store.forget_stale_link(&made).await.unwrap();
    assert_eq!(store.find_social_link("google", "1").await.unwrap(), None);
}

async fn an_id_token_is_accepted_once<S: Harness>() {
    let store = S::fresh().await;
    let expires = shared::now_unix() + 300;
    assert!(store.claim_id_token("digest-1", expires).await.unwrap());
    assert!(!store.claim_id_token("digest-1", expires).await.unwrap());
    assert!(store.claim_id_token("digest-2", expires).await.unwrap());
    // Past its expiry (the TTL not yet run), the record no longer counts.
    assert!(store.claim_id_token("digest-3", shared::now_unix() - 1).await.unwrap());
    assert!(store.claim_id_token("digest-3", expires).await.unwrap());
}
