//! The store's contract: one suite, run against both stores — the memory store the handler
//! tests use, and DynamoDB on the local server `make test` starts — so the two cannot drift.
//! What only DynamoDB can show (round trips, raw items, pages, TTL, expressions) is in
//! `dynamo_store.rs`.

#[macro_use]
mod common;

use std::sync::Arc;

use common::{Harness, a_session, joined, new_user, next_refresh};
use secrecy::SecretString;
use shared::account::create_superuser;
use shared::ids::random_id;
use shared::store::{
    AdminChanges, AdminRefusal, EventFilter, EventKind, EventPosition, EventSubject, MailPurpose, NextRefresh,
    ProfileChanges, Registration, Rotation, SecurityEvent, SessionProblem, ThrottleRecord, UserPosition, UserQuery,
};

contract!(
    users_are_created_found_and_unique_by_email,
    racing_joins_with_one_email_have_exactly_one_winner,
    login_starts_a_second_session_and_records_the_time,
    a_login_does_not_start_a_session_after_a_password_change_or_deactivation,
    a_profile_update_never_overwrites_a_password_change_a_deactivation_or_a_deletion,
    refresh_tokens_rotate_once_and_sessions_end,
    a_rotation_writes_only_while_the_user_is_as_the_refresh_read_them,
    racing_rotations_of_one_token_have_exactly_one_winner_and_the_losers_see_it,
    ending_a_session_leaves_the_others,
    a_password_change_keeps_its_session_and_revokes_the_others,
    create_superuser_stores_a_staff_superuser,
    a_reset_writes_once_per_hash_ends_every_session_and_forgets_guesses,
    racing_resets_of_one_hash_have_exactly_one_winner,
    an_address_is_verified_once_and_only_the_users_own,
    mail_quotas_count_per_address_and_purpose_and_start_again_after_the_hour,
    racing_mails_to_one_address_never_pass_its_limit,
    a_touch_writes_the_last_use_at_most_once_a_minute_and_never_creates_a_session,
    a_login_that_read_the_user_before_the_deletion_starts_no_session_after_it,
    events_ride_in_their_actions_transactions_and_exist_only_if_they_committed,
    a_subjects_events_page_newest_first_within_the_retention_and_no_further,
    staff_list_users_in_email_order_by_prefix_and_flags_a_page_at_a_time,
    an_admin_write_applies_to_what_was_read_and_a_stale_read_is_a_conflict,
    the_last_active_superuser_cannot_be_demoted_deactivated_or_deleted,
    racing_demotions_of_the_last_two_superusers_leave_one,
    an_admin_sign_out_ends_every_session_and_a_deletion_frees_the_email,
    the_event_log_pages_everyone_newest_first_across_days_and_by_filter,
);

async fn users_are_created_found_and_unique_by_email<S: Harness>() {
    let store = S::fresh().await;
    let (first, _) = joined(&store, "ada@example.com").await;
    let (second, _) = joined(&store, "bob@example.com").await;
    assert!(second.id > first.id, "ids grow");
    assert!(store.email_registered("ada@example.com").await.unwrap());
    assert!(!store.email_registered("nobody@example.com").await.unwrap());

    let found = store.find_by_email("ada@example.com").await.unwrap().expect("found");
    assert_eq!(found, first);
    assert_eq!(found.gender, "female");
    assert_eq!(found.date_of_birth.as_deref(), Some("1990-02-03"));
    assert_eq!(
        found.last_login.as_deref(),
        Some("2026-11-26T12:00:00Z"),
        "join logs in"
    );
    assert!(store.find_by_email("nobody@example.com").await.unwrap().is_none());

    let again = store
        .create_user(new_user("ada@example.com"), Some(a_session()), &[])
        .await
        .unwrap();
    assert!(matches!(again, Registration::EmailTaken));
}

async fn racing_joins_with_one_email_have_exactly_one_winner<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let joins = (0..12).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .create_user(new_user("race@example.com"), Some(a_session()), &[])
                .await
        })
    });
    let outcomes = futures::future::join_all(joins).await;
    let created = outcomes
        .into_iter()
        .map(|joined| joined.expect("task").expect("store answered"))
        .filter(|outcome| matches!(outcome, Registration::Created(_)))
        .count();
    assert_eq!(created, 1);
    assert!(store.find_by_email("race@example.com").await.unwrap().is_some());
}

async fn login_starts_a_second_session_and_records_the_time<S: Harness>() {
    let store = S::fresh().await;
    let (user, _) = joined(&store, "ada@example.com").await;
    let second = a_session();
    store
        .start_session(&user, second.clone(), "2026-11-27T08:00:00Z", &[])
        .await
        .unwrap();
    let view = store.load(user.id, &second.id).await.unwrap();
    let (live_user, _) = view.live(shared::now_unix()).expect("live");
    assert_eq!(live_user.last_login.as_deref(), Some("2026-11-27T08:00:00Z"));
}

async fn a_login_does_not_start_a_session_after_a_password_change_or_deactivation<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    assert!(
        store
            .change_password(user.id, &session.id, user.session_epoch, "new-hash", &[])
            .await
            .unwrap()
    );
    // `user` was read before the change: its epoch is stale.
    assert!(
        !store
            .start_session(&user, a_session(), "2026-11-27T08:00:00Z", &[])
            .await
            .unwrap()
    );

    let current = store.find_by_email("ada@example.com").await.unwrap().expect("found");
    store.set_active(user.id, false).await;
    assert!(
        !store
            .start_session(&current, a_session(), "2026-11-27T08:00:00Z", &[])
            .await
            .unwrap()
    );
}

async fn a_profile_update_never_overwrites_a_password_change_a_deactivation_or_a_deletion<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let changes = ProfileChanges {
        first_name: Some("Mallory".into()),
        ..ProfileChanges::default()
    };
    // A password change landed after the request authenticated at epoch 0.
    assert!(
        store
            .change_password(user.id, &session.id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.update_profile(user.id, 0, &changes).await.unwrap(),
        Err(SessionProblem::Revoked)
    );
    let stored = store.find_by_email("ada@example.com").await.unwrap().unwrap();
    assert_eq!(
        (stored.first_name.as_str(), stored.password_hash.as_str()),
        ("Ada", "new-hash")
    );

    // Deactivated at the current epoch: refused, and still inactive.
    store.set_active(user.id, false).await;
    assert_eq!(
        store.update_profile(user.id, 1, &changes).await.unwrap(),
        Err(SessionProblem::NoActiveUser)
    );
    let stored = store.find_by_email("ada@example.com").await.unwrap().unwrap();
    assert!(!stored.is_active, "the deactivation stands");
    assert_eq!(stored.first_name, "Ada");
    // Deactivated and at a stale epoch: the moved epoch is told first, as a session check would.
    assert_eq!(
        store.update_profile(user.id, 0, &changes).await.unwrap(),
        Err(SessionProblem::Revoked)
    );

    // Deleted: refused, and not recreated as a stub holding only the changed fields.
    store.delete_user_item(user.id).await;
    for changes in [changes, ProfileChanges::default()] {
        assert_eq!(
            store.update_profile(user.id, 1, &changes).await.unwrap(),
            Err(SessionProblem::NoActiveUser)
        );
    }
    assert!(store.find_by_id(user.id).await.unwrap().is_none());
}

async fn refresh_tokens_rotate_once_and_sessions_end<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let next = next_refresh();
    let rotate = |presented: String, next: NextRefresh| {
        let (store, session_id) = (&store, session.id.clone());
        async move {
            store
                .rotate_refresh(user.id, &session_id, &presented, 0, &next)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        rotate(session.refresh_jti.clone(), next.clone()).await,
        Rotation::Rotated
    );
    let stored = store.load(user.id, &session.id).await.unwrap().session.unwrap();
    assert_eq!(
        (
            stored.refresh_jti.as_str(),
            stored.refresh_issued_at,
            stored.previous_jti.as_deref()
        ),
        (next.jti.as_str(), next.issued_at, Some(session.refresh_jti.as_str())),
        "the family records its current token, when it was issued, and the one it replaced"
    );
    assert_eq!(stored.expires_at, next.session_expires_at);
    // A spent token does not rotate again; the failed write shows the session as it is now.
    assert_eq!(
        rotate(session.refresh_jti.clone(), next_refresh()).await,
        Rotation::Overtaken(Some(stored.clone()))
    );
    assert_eq!(
        rotate(session.refresh_jti.clone(), next.clone()).await,
        Rotation::Rotated,
        "a retried write that already landed counts as done"
    );
    assert!(store.end_session(user.id, &session.id).await.unwrap());
    assert!(
        store.end_session(user.id, &session.id).await.unwrap(),
        "ending an ended session is done, not an error (a retried logout)"
    );
    assert!(
        !store.end_session(user.id, &random_id()).await.unwrap(),
        "no such session"
    );
    match rotate(next.jti.clone(), next_refresh()).await {
        Rotation::Overtaken(Some(ended)) => assert!(ended.revoked),
        other => panic!("an ended session does not rotate: {other:?}"),
    }
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(view.live(shared::now_unix()).unwrap_err(), SessionProblem::Revoked);
}

/// A refresh reads the user, then rotates: a password change (epoch moved), a deactivation or a
/// deletion landing in between must stop the rotation, or its fresh tokens would outlive them at
/// other services. One transaction: the session's write and a condition on the user.
async fn a_rotation_writes_only_while_the_user_is_as_the_refresh_read_them<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "changed@example.com").await;
    let other = a_session();
    assert!(
        store
            .start_session(&user, other.clone(), "2026-11-27T08:00:00Z", &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .change_password(user.id, &other.id, 0, "new-hash", &[])
            .await
            .unwrap()
    );
    let refused = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(refused, Rotation::UserChanged(SessionProblem::Revoked));
    let stored = store.load(user.id, &session.id).await.unwrap().session.unwrap();
    assert_eq!(stored.refresh_jti, session.refresh_jti, "nothing was written");

    let (user, session) = joined(&store, "deactivated@example.com").await;
    store.set_active(user.id, false).await;
    let refused = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(refused, Rotation::UserChanged(SessionProblem::NoActiveUser));

    let (user, session) = joined(&store, "deleted@example.com").await;
    let caller = a_session();
    assert!(
        store
            .start_session(&user, caller.clone(), "2026-11-27T08:00:00Z", &[])
            .await
            .unwrap()
    );
    assert_eq!(store.delete_account(&user, &caller.id, &[]).await.unwrap(), Ok(()));
    let refused = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(refused, Rotation::UserChanged(SessionProblem::NoActiveUser));

    // And the same rotation of a user as read goes through.
    let (user, session) = joined(&store, "unchanged@example.com").await;
    let rotated = store
        .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next_refresh())
        .await
        .unwrap();
    assert_eq!(rotated, Rotation::Rotated);
}

async fn racing_rotations_of_one_token_have_exactly_one_winner_and_the_losers_see_it<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let (user, session) = joined(&*store, "ada@example.com").await;
    let session = Arc::new(session);
    let rotations = (0..10).map(|_| {
        let (store, session) = (Arc::clone(&store), Arc::clone(&session));
        tokio::spawn(async move {
            let next = next_refresh();
            let rotation = store
                .rotate_refresh(user.id, &session.id, &session.refresh_jti, 0, &next)
                .await;
            (next.jti, rotation.unwrap())
        })
    });
    let outcomes: Vec<(String, Rotation)> = futures::future::join_all(rotations)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, rotation)| *rotation == Rotation::Rotated)
        .map(|(jti, _)| jti)
        .collect();
    assert_eq!(winners.len(), 1);
    for (_, rotation) in &outcomes {
        if let Rotation::Overtaken(current) = rotation {
            let current = current.as_ref().expect("the session is there");
            assert_eq!(&current.refresh_jti, winners[0]);
            assert_eq!(current.previous_jti.as_ref(), Some(&session.refresh_jti));
        }
    }
}

async fn ending_a_session_leaves_the_others<S: Harness>() {
    let store = S::fresh().await;
    let (user, first) = joined(&store, "ada@example.com").await;
    let second = a_session();
    store
        .start_session(&user, second.clone(), "2026-11-27T08:00:00Z", &[])
        .await
        .unwrap();
    assert!(store.end_session(user.id, &first.id).await.unwrap());
    let now = shared::now_unix();
    assert!(store.load(user.id, &first.id).await.unwrap().live(now).is_err());
    assert!(store.load(user.id, &second.id).await.unwrap().live(now).is_ok());
}

async fn a_password_change_keeps_its_session_and_revokes_the_others<S: Harness>() {
    let store = S::fresh().await;
    let (user, kept) = joined(&store, "ada@example.com").await;
    let other = a_session();
    store
        .start_session(&user, other.clone(), "2026-11-27T08:00:00Z", &[])
        .await
        .unwrap();

    assert!(
        store
            .change_password(user.id, &kept.id, user.session_epoch, "new-hash", &[])
            .await
            .unwrap()
    );
    let now = shared::now_unix();
    let kept_view = store.load(user.id, &kept.id).await.unwrap();
    let (changed, _) = kept_view.live(now).expect("the changing session lives on");
    assert_eq!(changed.password_hash, "new-hash");
    let other_view = store.load(user.id, &other.id).await.unwrap();
    assert_eq!(other_view.live(now).unwrap_err(), SessionProblem::Revoked);

    // A change based on the old epoch (a concurrent change) is refused, and changes nothing.
    assert!(
        !store
            .change_password(user.id, &kept.id, user.session_epoch, "stale-hash", &[])
            .await
            .unwrap()
    );
    let after = store.load(user.id, &kept.id).await.unwrap();
    assert_eq!(after.user.expect("user").password_hash, "new-hash");
}

async fn create_superuser_stores_a_staff_superuser<S: Harness>() {
    let store = S::fresh().await;
    let password = SecretString::from("Admin-Pw!93821");
    let admin = create_superuser(&store, "root@example.com", &password).await.unwrap();
    let found = store.find_by_email("root@example.com").await.unwrap().expect("found");
    assert_eq!(found.id, admin.id);
    assert!(found.is_staff && found.is_superuser && found.is_active);
    assert!(shared::auth::password::verify_password(&password, &found.password_hash));
}

async fn a_reset_writes_once_per_hash_ends_every_session_and_forgets_guesses<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "reset@example.com").await;
    let guessed = ThrottleRecord {
        failures: 2,
        version: 1,
        expires_at: shared::now_unix() + 3600,
        ..ThrottleRecord::default()
    };
    assert!(
        store
            .replace_throttle_record(&user.email, 0, &guessed)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(store.find_by_id(user.id).await.unwrap(), Some(user.clone()));
    assert!(store.reset_password(&user, "$argon2id$first", &[]).await.unwrap());
    // A retry of that very write (its answer lost) is recognised by its hash; a rival is refused.
    assert!(store.reset_password(&user, "$argon2id$first", &[]).await.unwrap());
    assert!(!store.reset_password(&user, "$argon2id$second", &[]).await.unwrap());
    let stored = store.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$first");
    assert_eq!(stored.session_epoch, user.session_epoch + 1);
    assert!(stored.email_verified);
    let view = store.load(user.id, &session.id).await.unwrap();
    assert!(
        view.live(shared::now_unix()).is_err(),
        "the session ended with the reset"
    );
    assert_eq!(
        store.throttle_record(&user.email).await.unwrap(),
        ThrottleRecord::default()
    );
    assert_eq!(store.find_by_id(user.id + 1000).await.unwrap(), None);
}

async fn racing_resets_of_one_hash_have_exactly_one_winner<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let (user, _) = joined(&*store, "race-reset@example.com").await;
    let attempts = (0..6).map(|i| {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(async move {
            store
                .reset_password(&user, &format!("$argon2id$racer-{i}"), &[])
                .await
                .unwrap()
        })
    });
    let wins = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
}

async fn an_address_is_verified_once_and_only_the_users_own<S: Harness>() {
    let store = S::fresh().await;
    let (user, _) = joined(&store, "verify@example.com").await;
    assert!(!store.find_by_id(user.id).await.unwrap().unwrap().email_verified);
    assert!(!store.mark_email_verified(user.id, "other@example.com").await.unwrap());
    assert!(
        !store
            .mark_email_verified(user.id + 1000, "verify@example.com")
            .await
            .unwrap()
    );
    assert!(store.mark_email_verified(user.id, "verify@example.com").await.unwrap());
    assert!(!store.mark_email_verified(user.id, "verify@example.com").await.unwrap());
    assert!(store.find_by_id(user.id).await.unwrap().unwrap().email_verified);
}

async fn mail_quotas_count_per_address_and_purpose_and_start_again_after_the_hour<S: Harness>() {
    let store = S::fresh().await;
    let now = shared::now_unix();
    let take = |email: &'static str, purpose, at| {
        let store = &store;
        async move { store.take_mail_quota(email, purpose, 2, at).await.unwrap() }
    };
    assert!(take("q@example.com", MailPurpose::PasswordReset, now).await);
    assert!(take("q@example.com", MailPurpose::PasswordReset, now + 1).await);
    assert!(!take("q@example.com", MailPurpose::PasswordReset, now + 2).await);
    assert!(
        take("q@example.com", MailPurpose::EmailConfirmation, now).await,
        "its own count"
    );
    assert!(
        take("r@example.com", MailPurpose::PasswordReset, now).await,
        "its own count"
    );
    // The window ends an hour after its first mail (TTL may not have removed it yet).
    assert!(!take("q@example.com", MailPurpose::PasswordReset, now + 3599).await);
    assert!(take("q@example.com", MailPurpose::PasswordReset, now + 3600).await);
    assert!(take("q@example.com", MailPurpose::PasswordReset, now + 3601).await);
    assert!(!take("q@example.com", MailPurpose::PasswordReset, now + 3602).await);
}

async fn racing_mails_to_one_address_never_pass_its_limit<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let now = shared::now_unix();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .take_mail_quota("burst@example.com", MailPurpose::PasswordReset, 3, now)
                .await
                .unwrap()
        })
    });
    let taken = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|taken| *taken.as_ref().unwrap())
        .count();
    assert_eq!(taken, 3);
}

async fn a_touch_writes_the_last_use_at_most_once_a_minute_and_never_creates_a_session<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "touch@example.com").await;
    let started = session.refresh_issued_at;
    assert!(!store.touch_session(user.id, &session.id, started + 30).await.unwrap());
    assert!(store.touch_session(user.id, &session.id, started + 60).await.unwrap());
    assert!(!store.touch_session(user.id, &session.id, started + 90).await.unwrap());
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(view.session.expect("session").last_used_at, started + 60);
    assert!(store.end_session(user.id, &session.id).await.unwrap());
    assert!(!store.touch_session(user.id, &session.id, started + 500).await.unwrap());
    assert!(!store.touch_session(user.id, "gone", started + 500).await.unwrap());
    assert!(store.load(user.id, "gone").await.unwrap().session.is_none());
}

async fn a_login_that_read_the_user_before_the_deletion_starts_no_session_after_it<S: Harness>() {
    let store = S::fresh().await;
    let (user, caller) = joined(&store, "race@example.com").await;
    // The login read `user` and checked the password; then the deletion committed.
    assert_eq!(store.delete_account(&user, &caller.id, &[]).await.unwrap(), Ok(()));
    let late = a_session();
    assert!(
        !store
            .start_session(&user, late.clone(), "2026-11-27T08:00:00Z", &[])
            .await
            .unwrap()
    );
    let view = store.load(user.id, &late.id).await.unwrap();
    assert!(view.session.is_none(), "no session");
    assert!(view.user.is_none(), "no stub user");
}

/// An event of `kind` about `user` at `at_ms`, kept a day.
fn an_event(kind: EventKind, user: EventSubject, at_ms: i64) -> SecurityEvent {
    SecurityEvent {
        id: random_id(),
        kind,
        at_ms,
        user,
        actor: None,
        ip: Some("203.0.113.9".to_owned()),
        device: Some("Firefox on Linux".to_owned()),
        detail: [("reason".to_owned(), "wrong_password".to_owned())].into(),
        expires_at: at_ms / 1000 + 86_400,
    }
}

/// Every event of the user, newest first (a day's retention back from now).
async fn events_of_user<S: Harness>(store: &S, user_id: u64) -> Vec<SecurityEvent> {
    let since = (shared::now_unix() - 86_400) * 1000;
    store
        .events_of(&EventSubject::User(user_id), since, None, 100)
        .await
        .unwrap()
        .events
}

async fn events_ride_in_their_actions_transactions_and_exist_only_if_they_committed<S: Harness>() {
    let store = S::fresh().await;
    let now_ms = shared::now_unix() * 1000;
    // Join: the store writes the new user's id into its events, as subject and as actor.
    let mut joined_event = an_event(EventKind::Join, EventSubject::User(0), now_ms);
    joined_event.actor = Some(0);
    let Registration::Created(user) = store
        .create_user(
            new_user("ada@example.com"),
            Some(a_session()),
            std::slice::from_ref(&joined_event),
        )
        .await
        .unwrap()
    else {
        panic!("created");
    };
    let stored = events_of_user(&store, user.id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].user.clone(), stored[0].actor),
        (EventSubject::User(user.id), Some(user.id))
    );
    assert_eq!(stored[0].id, joined_event.id);
    assert_eq!(stored[0].detail, joined_event.detail, "stored whole");
    // A join that loses to the taken address records nothing.
    let lost = an_event(EventKind::Join, EventSubject::User(0), now_ms + 1);
    let taken = store
        .create_user(new_user("ada@example.com"), None, std::slice::from_ref(&lost))
        .await
        .unwrap();
    assert!(matches!(taken, Registration::EmailTaken));

    // A login refused by its condition (deactivated meanwhile) writes no event; one that starts
    // a session writes its own.
    let login = |at| an_event(EventKind::Login, EventSubject::User(user.id), at);
    store.set_active(user.id, false).await;
    let refused = login(now_ms + 2);
    assert!(
        !store
            .start_session(
                &user,
                a_session(),
                "2026-11-27T08:00:00Z",
                std::slice::from_ref(&refused)
            )
            .await
            .unwrap()
    );
    store.set_active(user.id, true).await;
    let session = a_session();
    let logged_in = login(now_ms + 3);
    assert!(
        store
            .start_session(
                &user,
                session.clone(),
                "2026-11-27T08:00:00Z",
                std::slice::from_ref(&logged_in)
            )
            .await
            .unwrap()
    );

    // A password change from a stale epoch writes nothing; the current one writes its event.
    let stale = an_event(EventKind::PasswordChanged, EventSubject::User(user.id), now_ms + 4);
    assert!(
        !store
            .change_password(user.id, &session.id, 7, "stale-hash", std::slice::from_ref(&stale))
            .await
            .unwrap()
    );
    let changed = an_event(EventKind::PasswordChanged, EventSubject::User(user.id), now_ms + 5);
    assert!(
        store
            .change_password(user.id, &session.id, 0, "new-hash", std::slice::from_ref(&changed))
            .await
            .unwrap()
    );

    // The deletion's event outlives the account, as every earlier one does.
    let user = store.find_by_id(user.id).await.unwrap().expect("still there");
    let deleted = an_event(EventKind::AccountDeleted, EventSubject::User(user.id), now_ms + 6);
    store
        .delete_account(&user, &session.id, std::slice::from_ref(&deleted))
        .await
        .unwrap()
        .unwrap();
    assert!(store.find_by_id(user.id).await.unwrap().is_none());
    let ids: Vec<String> = events_of_user(&store, user.id)
        .await
        .into_iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(
        ids,
        [deleted.id, changed.id, logged_in.id, joined_event.id],
        "newest first, nothing refused among them"
    );
}

async fn a_subjects_events_page_newest_first_within_the_retention_and_no_further<S: Harness>() {
    let store = S::fresh().await;
    let base = shared::now_unix() * 1000;
    let ada = EventSubject::User(41);
    let address = EventSubject::address("00ff");
    // Five of Ada's (two in one millisecond), one too old to list, and others' beside them.
    let mut adas: Vec<SecurityEvent> = [0, 10, 10, 20, 30]
        .into_iter()
        .map(|offset| an_event(EventKind::LoginFailed, ada.clone(), base + offset))
        .collect();
    let too_old = an_event(EventKind::Login, ada.clone(), base - 5_000);
    let others = [
        an_event(EventKind::Login, EventSubject::User(42), base + 15),
        an_event(EventKind::LoginFailed, address.clone(), base + 15),
    ];
    let mut all = adas.clone();
    all.push(too_old);
    all.extend(others.clone());
    store.record_events(&all).await.unwrap();

    adas.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
    let since = base - 1_000;
    let mut listed = Vec::new();
    let mut after: Option<EventPosition> = None;
    let mut pages = 0;
    loop {
        let page = store.events_of(&ada, since, after.as_ref(), 2).await.unwrap();
        assert!(page.events.len() <= 2);
        pages += 1;
        listed.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3, "2 + 2 + 1, and no empty page at the end");
    let ids = |events: &[SecurityEvent]| events.iter().map(|event| event.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&listed),
        ids(&adas),
        "newest first, ties by id, each once, none too old"
    );
    assert_eq!(listed[0], adas[0], "each event as recorded");

    let page = store.events_of(&address, since, None, 10).await.unwrap();
    assert_eq!(ids(&page.events), ids(&others[1..]));
    assert!(page.next.is_none());
    let none = store.events_of(&EventSubject::User(43), since, None, 10).await.unwrap();
    assert!(none.events.is_empty() && none.next.is_none());
}

async fn staff_list_users_in_email_order_by_prefix_and_flags_a_page_at_a_time<S: Harness>() {
    let store = S::fresh().await;
    let mut ids = std::collections::HashMap::new();
    for email in [
        "carol@example.com",
        "ada@example.com",
        "bob@example.com",
        "al@example.com",
        "adam@example.com",
    ] {
        let mut user = new_user(email);
        user.is_staff = email == "bob@example.com";
        let Registration::Created(created) = store.create_user(user, None, &[]).await.unwrap() else {
            panic!("{email} created");
        };
        ids.insert(email, created.id);
    }
    store.set_active(ids["adam@example.com"], false).await;
    let emails = |page: &shared::store::UserPage| page.users.iter().map(|user| user.email.clone()).collect::<Vec<_>>();

    // Every user, two a page, in email order, each once.
    let everyone = UserQuery::default();
    let mut listed = Vec::new();
    let mut after: Option<UserPosition> = None;
    let mut pages = 0;
    loop {
        let page = store.list_users(&everyone, after.as_ref(), 2).await.unwrap();
        pages += 1;
        listed.extend(emails(&page));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        listed,
        [
            "ada@example.com",
            "adam@example.com",
            "al@example.com",
            "bob@example.com",
            "carol@example.com"
        ]
    );
    assert_eq!(pages, 3);

    let query = |prefix: &str, is_active, is_staff| UserQuery {
        email_prefix: prefix.to_owned(),
        is_active,
        is_staff,
    };
    let all = |query: UserQuery| {
        let store = &store;
        async move { emails(&store.list_users(&query, None, 50).await.unwrap()) }
    };
    assert_eq!(
        all(query("ad", None, None)).await,
        ["ada@example.com", "adam@example.com"]
    );
    assert_eq!(all(query("ada@", None, None)).await, ["ada@example.com"]);
    assert_eq!(
        all(query("a", Some(true), None)).await,
        ["ada@example.com", "al@example.com"]
    );
    assert_eq!(all(query("", Some(false), None)).await, ["adam@example.com"]);
    assert_eq!(all(query("", None, Some(true))).await, ["bob@example.com"]);
    assert_eq!(all(query("b", Some(true), Some(false))).await, Vec::<String>::new());
    assert!(all(query("zed", None, None)).await.is_empty());

    // What the list shows of a user, and a change of it showing there.
    let page = store.list_users(&query("bob", None, None), None, 1).await.unwrap();
    let bob = &page.users[0];
    assert_eq!(
        (bob.id, bob.is_staff, bob.is_active, bob.first_name.as_str()),
        (ids["bob@example.com"], true, true, "Ada")
    );
    assert!(page.next.is_none());
    store.set_active(ids["bob@example.com"], false).await;
    assert_eq!(all(query("", None, Some(true))).await, ["bob@example.com"]);
    assert!(
        all(query("bob", Some(true), None)).await.is_empty(),
        "the deactivation is in the index"
    );
}

fn demotion() -> AdminChanges {
    AdminChanges {
        is_superuser: Some(false),
        ..Default::default()
    }
}

async fn a_superuser<S: Harness>(store: &S, email: &str) -> shared::store::User {
    create_superuser(store, email, &SecretString::from("Admin-Pw!93821"))
        .await
        .unwrap()
}

async fn an_admin_write_applies_to_what_was_read_and_a_stale_read_is_a_conflict<S: Harness>() {
    let store = S::fresh().await;
    let (user, session) = joined(&store, "ada@example.com").await;
    let rename = |name: &str| AdminChanges {
        profile: ProfileChanges {
            first_name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    let event = an_event(
        EventKind::AdminUpdate,
        EventSubject::User(user.id),
        shared::now_unix() * 1000,
    );
    let renamed = store
        .admin_update(&user, &rename("One"), std::slice::from_ref(&event))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.first_name, "One");
    assert_eq!(
        events_of_user(&store, user.id).await,
        [event],
        "the event rides in the write"
    );
    // `user` is stale now: the same field again is a conflict, and the first change stands.
    assert_eq!(
        store.admin_update(&user, &rename("Two"), &[]).await.unwrap(),
        Err(AdminRefusal::Conflict)
    );
    assert_eq!(store.find_by_id(user.id).await.unwrap().unwrap().first_name, "One");
    // Another field read as it still is: applied beside the first change, which it keeps.
    let verify = AdminChanges {
        email_verified: Some(true),
        ..Default::default()
    };
    let both = store.admin_update(&user, &verify, &[]).await.unwrap().unwrap();
    assert!(both.email_verified && both.first_name == "One");
    // A deactivation moves the epoch: the session ends with it, and stays ended.
    let deactivate = AdminChanges {
        is_active: Some(false),
        ..Default::default()
    };
    let inactive = store.admin_update(&both, &deactivate, &[]).await.unwrap().unwrap();
    assert!(!inactive.is_active && inactive.session_epoch == both.session_epoch + 1);
    let reactivate = AdminChanges {
        is_active: Some(true),
        ..Default::default()
    };
    store.admin_update(&inactive, &reactivate, &[]).await.unwrap().unwrap();
    let view = store.load(user.id, &session.id).await.unwrap();
    assert_eq!(view.live(shared::now_unix()).err(), Some(SessionProblem::Revoked));
    // Gone: nothing written, nothing recreated.
    store.delete_user_item(user.id).await;
    assert_eq!(
        store.admin_update(&inactive, &rename("Three"), &[]).await.unwrap(),
        Err(AdminRefusal::Gone)
    );
    assert!(store.find_by_id(user.id).await.unwrap().is_none());
}

async fn the_last_active_superuser_cannot_be_demoted_deactivated_or_deleted<S: Harness>() {
    let store = S::fresh().await;
    let first = a_superuser(&store, "root@example.com").await;
    let second = a_superuser(&store, "root2@example.com").await;
    let first = store.admin_update(&first, &demotion(), &[]).await.unwrap().unwrap();
    assert!(!first.is_superuser);
    assert_eq!(
        store.admin_update(&second, &demotion(), &[]).await.unwrap(),
        Err(AdminRefusal::LastSuperuser)
    );
    let deactivate = AdminChanges {
        is_active: Some(false),
        ..Default::default()
    };
    assert_eq!(
        store.admin_update(&second, &deactivate, &[]).await.unwrap(),
        Err(AdminRefusal::LastSuperuser)
    );
    assert_eq!(
        store.admin_delete(&second, &[]).await.unwrap(),
        Err(AdminRefusal::LastSuperuser)
    );
    let stored = store.find_by_id(second.id).await.unwrap().unwrap();
    assert!(stored.is_active && stored.is_superuser, "nothing written");
    // With another active superuser, the rule lets each of these through.
    let promote = AdminChanges {
        is_superuser: Some(true),
        ..Default::default()
    };
    store.admin_update(&first, &promote, &[]).await.unwrap().unwrap();
    assert_eq!(store.admin_delete(&second, &[]).await.unwrap(), Ok(()));
    assert!(store.find_by_id(second.id).await.unwrap().is_none());
    let first = store.find_by_id(first.id).await.unwrap().unwrap();
    assert_eq!(
        store.admin_update(&first, &demotion(), &[]).await.unwrap(),
        Err(AdminRefusal::LastSuperuser)
    );
}

async fn racing_demotions_of_the_last_two_superusers_leave_one<S: Harness>() {
    let store = Arc::new(S::fresh().await);
    let first = a_superuser(&*store, "root@example.com").await;
    let second = a_superuser(&*store, "root2@example.com").await;
    let demote = |user: shared::store::User| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.admin_update(&user, &demotion(), &[]).await })
    };
    let (a, b) = tokio::join!(demote(first.clone()), demote(second.clone()));
    let outcomes = [a.unwrap(), b.unwrap()];
    let won = outcomes.iter().filter(|outcome| matches!(outcome, Ok(Ok(_)))).count();
    assert!(won <= 1, "{outcomes:?}");
    let mut left = 0;
    for id in [first.id, second.id] {
        left += usize::from(store.find_by_id(id).await.unwrap().unwrap().is_superuser);
    }
    assert_eq!(left, 2 - won, "one superuser at least, whatever the order");
}

async fn an_admin_sign_out_ends_every_session_and_a_deletion_frees_the_email<S: Harness>() {
    let store = S::fresh().await;
    let (user, first) = joined(&store, "ada@example.com").await;
    let second = a_session();
    assert!(
        store
            .start_session(&user, second.clone(), "2026-12-05T10:00:00Z", &[])
            .await
            .unwrap()
    );
    assert_eq!(store.admin_sign_out(&user, &[]).await.unwrap(), Ok(()));
    for session in [&first, &second] {
        let view = store.load(user.id, &session.id).await.unwrap();
        assert_eq!(view.live(shared::now_unix()).err(), Some(SessionProblem::Revoked));
    }
    // Read before the sign-out: its epoch is gone.
    assert_eq!(
        store.admin_sign_out(&user, &[]).await.unwrap(),
        Err(AdminRefusal::Conflict)
    );
    let user = store.find_by_id(user.id).await.unwrap().unwrap();
    let event = an_event(
        EventKind::AdminDelete,
        EventSubject::User(user.id),
        shared::now_unix() * 1000,
    );
    assert_eq!(
        store.admin_delete(&user, std::slice::from_ref(&event)).await.unwrap(),
        Ok(())
    );
    assert!(store.find_by_id(user.id).await.unwrap().is_none());
    assert!(!store.email_registered("ada@example.com").await.unwrap());
    assert_eq!(events_of_user(&store, user.id).await, [event], "its events stay");
    assert_eq!(store.admin_delete(&user, &[]).await.unwrap(), Err(AdminRefusal::Gone));
    assert!(matches!(joined(&store, "ada@example.com").await, (again, _) if again.id != user.id));
}

async fn the_event_log_pages_everyone_newest_first_across_days_and_by_filter<S: Harness>() {
    let store = S::fresh().await;
    let now = shared::now_unix() * 1000;
    let day = 86_400_000;
    // Three days, several subjects and kinds; one too old to list.
    let all = vec![
        an_event(EventKind::Login, EventSubject::User(1), now - 10),
        an_event(EventKind::LoginFailed, EventSubject::address("00ff"), now - 20),
        an_event(EventKind::Login, EventSubject::User(2), now - day),
        an_event(EventKind::AdminUpdate, EventSubject::User(1), now - day - 5),
        an_event(EventKind::Login, EventSubject::User(1), now - 2 * day),
        an_event(EventKind::Login, EventSubject::User(1), now - 9 * day),
    ];
    store.record_events(&all).await.unwrap();
    let since = now - 3 * day;
    let read_all = |filter: EventFilter| {
        let store = &store;
        async move {
            let mut listed = Vec::new();
            let mut before: Option<EventPosition> = None;
            for _ in 0..20 {
                let page = store.event_feed(&filter, since, before.as_ref(), 2).await.unwrap();
                assert!(page.events.len() <= 2);
                listed.extend(page.events.iter().map(|event| event.id.clone()));
                match page.next {
                    Some(next) => before = Some(next),
                    None => return listed,
                }
            }
            panic!("the log never ended");
        }
    };
    let ids = |indexes: &[usize]| indexes.iter().map(|&i| all[i].id.clone()).collect::<Vec<_>>();
    assert_eq!(
        read_all(EventFilter::default()).await,
        ids(&[0, 1, 2, 3, 4]),
        "newest first, none too old"
    );
    let logins = EventFilter {
        kind: Some(EventKind::Login),
        ..Default::default()
    };
    assert_eq!(read_all(logins).await, ids(&[0, 2, 4]));
    let adas_logins = EventFilter {
        subject: Some(EventSubject::User(1)),
        kind: Some(EventKind::Login),
    };
    assert_eq!(read_all(adas_logins).await, ids(&[0, 4]));
    let address = EventFilter {
        subject: Some(EventSubject::address("00ff")),
        kind: None,
    };
    assert_eq!(read_all(address).await, ids(&[1]));
}
