//! The test user and its sessions, made straight in the memory store as join and login would
//! make them (real Argon2 hashes, signed tokens), and what tests ask of them afterwards: which
//! password holds, a refresh token spent as a refresh would spend it.

use crate::app::App;
use crate::store::MemoryStore;
use crate::tokens::TokenKind;

/// The address of the user [`joined`] makes.
pub const EMAIL: &str = "user@example.com";

/// The password of the user [`joined`] makes; one strong enough for every route's rules.
pub const PASSWORD: &str = "Tutorial-Pw!7319";

/// The tokens of one session, as login would hand them out.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub session_id: String,
    pub access: String,
    pub refresh: String,
}

/// Creates an active user straight in the store (no session), with a real Argon2 hash.
pub async fn create_user(app: &App<MemoryStore>, email: &str, password: &str) -> crate::store::User {
    use crate::store::{Registration, UserStore};
    let password_hash =
        crate::auth::password::hash_password(&secrecy::SecretString::from(password)).expect("hashing works");
    let new_user = plain_user(&email.trim().to_lowercase(), password_hash);
    match app
        .store
        .create_user(new_user, None, &[])
        .await
        .expect("the memory store is up")
    {
        Registration::Created(user) => user,
        Registration::EmailTaken => panic!("{email} is already registered"),
    }
}

/// Starts a new session for the user (what login does) and signs its tokens.
pub async fn start_session(app: &App<MemoryStore>, user_id: u64) -> SessionTokens {
    start_session_at(
        app,
        user_id,
        crate::store::SessionOrigin::default(),
        crate::clock::now_unix(),
    )
    .await
}

/// Starts a session as a login from `origin` at `now` (Unix seconds) would, and signs its tokens
/// at that time (so a session started long ago has expired tokens).
pub async fn start_session_at(
    app: &App<MemoryStore>,
    user_id: u64,
    origin: crate::store::SessionOrigin,
    now: i64,
) -> SessionTokens {
    use crate::store::SessionStore;
    let user = app.store.user(user_id).expect("the user exists");
    let session = crate::account::new_session(&app.tokens, now, origin);
    let tokens = crate::account::session_tokens(&app.tokens, user.id, &session, now).expect("signed");
    let session_id = session.id.clone();
    let started = app
        .store
        .start_session(&user, session, "2026-01-01T00:00:00Z", &[])
        .await;
    assert!(started.expect("the memory store is up"), "the user is active");
    SessionTokens {
        session_id,
        access: tokens.access.token,
        refresh: tokens.refresh.token,
    }
}

/// A user with one session: what a client holds after joining.
pub async fn join_user(app: &App<MemoryStore>, email: &str, password: &str) -> (crate::store::User, SessionTokens) {
    let user = create_user(app, email, password).await;
    let tokens = start_session(app, user.id).await;
    (user, tokens)
}

/// The test user ([`EMAIL`], [`PASSWORD`]) joined: its id and the tokens of its one session.
pub async fn joined(app: &App<MemoryStore>) -> (u64, SessionTokens) {
    let (user, tokens) = join_user(app, EMAIL, PASSWORD).await;
    (user.id, tokens)
}

/// Whether `password` is the stored user's password (its hash verifies it).
pub fn password_is(app: &App<MemoryStore>, user_id: u64, password: &str) -> bool {
    crate::auth::password::verify_password(
        &secrecy::SecretString::from(password),
        &app.store.user(user_id).expect("the user exists").password_hash,
    )
}

/// Spends the session's refresh token `current` for a new one, as token/refresh does (the
/// store's rotation, a signed successor), and returns the new token.
pub async fn rotate_refresh(app: &App<MemoryStore>, user_id: u64, session_id: &str, current: &str) -> String {
    use crate::store::{NextRefresh, Rotation, SessionStore};
    let now = crate::clock::now_unix();
    let spent = app
        .tokens
        .verify(current, TokenKind::Refresh)
        .expect("a live refresh token");
    let next = app
        .tokens
        .issue(TokenKind::Refresh, user_id, session_id, crate::ids::random_id(), now)
        .expect("signed");
    let successor = NextRefresh {
        jti: next.jti.clone(),
        issued_at: now,
        session_expires_at: next.expires_at + app.tokens.access_lifetime,
    };
    let rotation = app
        .store
        .rotate_refresh(user_id, session_id, &spent.jti, 0, &successor)
        .await
        .expect("the memory store is up");
    assert_eq!(rotation, Rotation::Rotated);
    next.token
}

/// The events of `kind` recorded in the store so far, oldest first.
pub fn recorded(app: &App<MemoryStore>, kind: crate::store::EventKind) -> Vec<crate::store::SecurityEvent> {
    app.store
        .events()
        .into_iter()
        .filter(|event| event.kind == kind)
        .collect()
}

/// A user of `email` with no names, joined now, neither staff nor superuser.
fn plain_user(email: &str, password_hash: String) -> crate::store::NewUser {
    crate::store::NewUser {
        email: email.to_owned(),
        password_hash,
        first_name: String::new(),
        last_name: String::new(),
        gender: String::new(),
        date_of_birth: None,
        is_staff: false,
        is_superuser: false,
        joined_at: crate::clock::timestamp(time::OffsetDateTime::now_utc()),
    }
}

/// A user who joined through a provider (google, uid `g-<email>`): no usable password, one
/// link, and a session just started, as a social sign-in leaves them.
pub async fn social_user(
    app: &App<MemoryStore>,
    email: &str,
) -> (crate::store::User, crate::store::SocialLink, SessionTokens) {
    use crate::store::{NewSocialLink, SocialRegistration, SocialStore, UNUSABLE_PASSWORD_PREFIX};
    let new_user = plain_user(email, format!("{UNUSABLE_PASSWORD_PREFIX}{}", crate::ids::random_id()));
    let link = NewSocialLink {
        provider: "google".to_owned(),
        uid: format!("g-{email}"),
        at: new_user.joined_at.clone(),
    };
    match app
        .store
        .create_social_user(new_user, true, link, None, &[])
        .await
        .expect("the memory store is up")
    {
        SocialRegistration::Created(user, link) => {
            let tokens = start_session(app, user.id).await;
            (user, link, tokens)
        }
        other => panic!("{email} not created: {other:?}"),
    }
}

/// Links the provider account `provider`/`uid` to the user, as a connect would.
pub async fn link_account(app: &App<MemoryStore>, user_id: u64, provider: &str, uid: &str) -> crate::store::SocialLink {
    use crate::store::{LinkOutcome, NewSocialLink, SocialStore};
    let user = app.store.user(user_id).expect("the user exists");
    let new = NewSocialLink {
        provider: provider.to_owned(),
        uid: uid.to_owned(),
        at: crate::clock::timestamp(time::OffsetDateTime::now_utc()),
    };
    match app
        .store
        .link_social_account(&user, new, &[])
        .await
        .expect("the memory store is up")
    {
        LinkOutcome::Linked(link) => link,
        other => panic!("not linked: {other:?}"),
    }
}
