//! Account rules shared by several routes and the admin tool: the user's public shape,
//! starting a session, the password rules applied to a user, and `create_superuser`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::app::App;
use crate::auth::password::{self, Attribute};
use crate::clock::{timestamp, unix_timestamp};
use crate::http::input::{Fields, normalise_email};
use crate::http::{ACCESS_COOKIE, ApiError, FieldErrors, REFRESH_COOKIE, json_response, token_cookie, with_cookies};
use crate::ids::random_id;
use crate::store::{
    NewSession, NewUser, ProfileChanges, Registration, Session, SessionListStore, SessionOrigin, SocialStore,
    StoreError, User, UserStore,
};
use crate::tokens::{Issued, SigningFailed, TokenKeys, TokenKind};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

/// The contract's user object (§3).
pub fn user_json(user: &User) -> Value {
    json!({
        "pk": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "gender": user.gender,
        "date_of_birth": user.date_of_birth,
    })
}

/// The most sessions listed (the newest): every answer stays small whatever a user did.
/// Revoke-others ends the rest too.
pub const MAX_LISTED_SESSIONS: usize = 100;

/// The user's live sessions, newest first, at most [`MAX_LISTED_SESSIONS`]: exactly those whose
/// tokens would be accepted now (`Session::in_force`, the rule authentication applies, and the
/// absolute end). Revoked, expired and stale-epoch sessions are not listed.
pub async fn live_sessions<S: SessionListStore>(app: &App<S>, user: &User) -> Result<Vec<Session>, ApiError> {
    let now = crate::clock::now_unix();
    let mut sessions: Vec<Session> = app
        .store
        .list_sessions(user.id)
        .await?
        .into_iter()
        .filter(|session| session.in_force(Some(user), now) && now < app.tokens.session_end(session.started_at()))
        .collect();
    // Newest first; sessions from before start times were recorded (0) last.
    sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    sessions.truncate(MAX_LISTED_SESSIONS);
    Ok(sessions)
}

/// One session as the list shows it; `ends` is its absolute end (`MAX_SESSION_SECONDS` after
/// its login).
pub fn session_json(session: &Session, current_id: &str, ends: i64) -> Value {
    json!({
        "id": session.id,
        // Unknown (null) only for sessions started before start times were recorded.
        "created": (session.created_at > 0).then(|| unix_timestamp(session.created_at)),
        "last_used": unix_timestamp(session.last_used()),
        // The latest it ends however often it is refreshed (sooner if it is not).
        "expires": unix_timestamp(ends),
        "device": session.device,
        "ip": session.ip,
        "current": session.id == current_id,
    })
}

/// Django's `max_length` of `first_name` and `last_name`.
pub const MAX_NAME_CHARS: usize = 150;
/// The choices of `gender` (blank is allowed too: no gender given).
pub const GENDERS: [&str; 2] = ["male", "female"];

/// The profile fields join and the user route take, read with one set of rules and messages:
/// names trimmed, blank allowed, at most 150 characters; gender one of [`GENDERS`] or blank;
/// date of birth `YYYY-MM-DD`, not after `today`, null or blank for none. A field not sent is
/// `None` (join then stores its default, the user route leaves it as it is); errors go to
/// `fields.errors`, in this order.
pub fn profile_fields(fields: &mut Fields<'_>, today: time::Date) -> ProfileChanges {
    let first_name = fields.string("first_name", false, true, Some(MAX_NAME_CHARS));
    let last_name = fields.string("last_name", false, true, Some(MAX_NAME_CHARS));
    let gender = fields.choice("gender", &GENDERS);
    let date_of_birth = fields.contains("date_of_birth").then(|| {
        fields
            .date_of_birth("date_of_birth", today)
            .map(|date| date.to_string())
    });
    ProfileChanges {
        first_name,
        last_name,
        gender,
        date_of_birth,
    }
}

/// A session about to start from `origin`: its ids are chosen before the user id is known (join).
pub fn new_session(tokens: &TokenKeys, now: i64, origin: SessionOrigin) -> NewSession {
    NewSession {
        id: random_id(),
        refresh_jti: random_id(),
        refresh_issued_at: now,
        // Covers the refresh token and any access token minted from it before it expires; no
        // token outlives the session's end.
        expires_at: (now + tokens.refresh_lifetime + tokens.access_lifetime).min(tokens.session_end(now)),
        origin,
    }
}

/// The access and refresh tokens of a session that has just started.
pub struct TokenPair {
    pub access: Issued,
    pub refresh: Issued,
}

pub fn session_tokens(
    tokens: &TokenKeys,
    user_id: u64,
    session: &NewSession,
    now: i64,
) -> Result<TokenPair, SigningFailed> {
    let end = tokens.session_end(session.refresh_issued_at);
    Ok(TokenPair {
        access: tokens.issue_until(TokenKind::Access, user_id, &session.id, random_id(), now, end)?,
        refresh: tokens.issue_until(
            TokenKind::Refresh,
            user_id,
            &session.id,
            session.refresh_jti.clone(),
            now,
            end,
        )?,
    })
}

/// Login's answer (contract §3), as every route that signs someone in gives it: the tokens and
/// the user in the body, the tokens in their cookies.
pub fn login_answer<S>(app: &App<S>, user: &User, tokens: &TokenPair) -> Response<Body> {
    let secure = app.config.cookie_secure;
    let response = json_response(
        StatusCode::OK,
        &json!({"access": tokens.access.token, "refresh": tokens.refresh.token, "user": user_json(user)}),
    );
    with_cookies(
        response,
        [
            token_cookie(ACCESS_COOKIE, &tokens.access.token, app.tokens.access_lifetime, secure),
            token_cookie(
                REFRESH_COOKIE,
                &tokens.refresh.token,
                app.tokens.refresh_lifetime,
                secure,
            ),
        ],
    )
}

/// After an account's deletion: its sessions (dead already) and its provider links deleted, so
/// nothing of the user stays behind. A failure leaves the sessions to their TTL and the links to
/// the next sign-in through them, which forgets a link whose user is gone.
pub async fn sweep_deleted_user<S: SessionListStore + SocialStore>(store: &S, user_id: u64) {
    let sessions = async {
        let ids: Vec<String> = store
            .list_sessions(user_id)
            .await?
            .into_iter()
            .map(|session| session.id)
            .collect();
        store.delete_sessions(user_id, &ids).await.map(|()| ids.len())
    };
    let links = async {
        let links = store.social_links_of(user_id).await?;
        for link in &links {
            store.forget_stale_link(link).await?;
        }
        Ok::<_, StoreError>(links.len())
    };
    let (sessions, links) = tokio::join!(sessions, links);
    match sessions {
        Ok(count) => tracing::info!(sessions = count, "the deleted account's sessions deleted"),
        Err(error) => tracing::warn!(%error, "sessions of the deleted account left to expire"),
    }
    match links {
        Ok(count) => tracing::info!(links = count, "the deleted account's provider links deleted"),
        Err(error) => tracing::warn!(%error, "provider links of the deleted account left for their next use"),
    }
}

/// How recent a sign-in must be to stand in for a password a user does not have (one who joined
/// through a provider): setting a first password, deleting the account.
pub const RECENT_SIGN_IN_SECONDS: i64 = 300;

/// The answer to a user without a password whose sign-in is not recent enough.
pub const SIGN_IN_AGAIN: &str = "Your account has no password set up. Sign in again through your provider and retry \
     within 5 minutes, or set a password through the password reset e-mail.";

/// Whether a user without a usable password may act without one: the session asking started
/// (its sign-in through the provider) at most [`RECENT_SIGN_IN_SECONDS`] ago.
pub fn may_act_without_password(user: &User, session: &Session, now: i64) -> bool {
    !user.has_usable_password() && now - session.started_at() <= RECENT_SIGN_IN_SECONDS
}

/// The personal attributes a password must not resemble, in Django's order.
pub fn personal_attributes<'a>(email: &'a str, first_name: &'a str, last_name: &'a str) -> [Attribute<'a>; 3] {
    [
        Attribute {
            verbose_name: "first name",
            value: first_name,
        },
        Attribute {
            verbose_name: "last name",
            value: last_name,
        },
        Attribute {
            verbose_name: "email",
            value: email,
        },
    ]
}

/// Django's `SetPasswordForm` (password change, reset confirmation): the two new passwords must
/// match (the form's typographic apostrophe, U+2019), then the validators in settings order,
/// similarity to `user` first; every message under `new_password2`.
pub const NEW_PASSWORDS_DIFFER: &str = "The two password fields didn\u{2019}t match.";

pub fn check_new_password(new_password1: &str, new_password2: &str, user: &User) -> Result<(), ApiError> {
    if new_password1 != new_password2 {
        return Err(ApiError::Validation(FieldErrors::single(
            "new_password2",
            NEW_PASSWORDS_DIFFER,
        )));
    }
    let mut problems = FieldErrors::new();
    let attributes = personal_attributes(&user.email, &user.first_name, &user.last_name);
    if let Some(problem) = password::similarity_problem(new_password2, &attributes) {
        problems.add("new_password2", problem);
    }
    for problem in password::strength_problems(new_password2) {
        problems.add("new_password2", problem);
    }
    problems.into_result()
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("the password starts or ends with whitespace, which login strips: no one could log in with it")]
    PaddedPassword,
    #[error("weak password: {0}")]
    WeakPassword(String),
    #[error("a user is already registered with this email address")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hash,
}

/// The tutorial's `create_superuser`: an active staff superuser, with no session. The email
/// takes the form join and login give it; the password must pass the same rules as everyone's.
pub async fn create_superuser<S: UserStore>(
    store: &S,
    email: &str,
    password: &SecretString,
) -> Result<User, AdminError> {
    let email = normalise_email(email).ok_or(AdminError::InvalidEmail)?;
    let secret = password.expose_secret();
    // Login trims the password it is sent (as the reference's serializer does).
    if secret.trim() != secret {
        return Err(AdminError::PaddedPassword);
    }
    if secret.chars().count() > password::MAX_PASSWORD_CHARS {
        return Err(AdminError::WeakPassword(format!(
            "Ensure this field has no more than {} characters.",
            password::MAX_PASSWORD_CHARS
        )));
    }
    let mut problems: Vec<String> = password::strength_problems(secret)
        .into_iter()
        .map(str::to_owned)
        .collect();
    problems.extend(password::similarity_problem(
        secret,
        &personal_attributes(&email, "", ""),
    ));
    if !problems.is_empty() {
        return Err(AdminError::WeakPassword(problems.join(" ")));
    }
    let password_hash = password::hash_password(password).map_err(|_| AdminError::Hash)?;
    let user = NewUser {
        email,
        password_hash,
        first_name: String::new(),
        last_name: String::new(),
        gender: String::new(),
        date_of_birth: None,
        is_staff: true,
        is_superuser: true,
        joined_at: timestamp(OffsetDateTime::now_utc()),
    };
    match store.create_user(user, None, &[]).await? {
        Registration::Created(user) => Ok(user),
        Registration::EmailTaken => Err(AdminError::EmailTaken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn create_superuser_makes_an_active_staff_superuser_once() {
        let store = MemoryStore::new();
        let password = SecretString::from("Admin-Pw!93821");
        let user = create_superuser(&store, " Admin@Example.com ", &password)
            .await
            .unwrap();
        assert!(user.is_staff && user.is_superuser && user.is_active);
        assert_eq!(user.email, "admin@example.com");
        assert!(password::verify_password(&password, &user.password_hash));
        let again = create_superuser(&store, "admin@example.com", &password).await;
        assert!(matches!(again, Err(AdminError::EmailTaken)));
        let weak = create_superuser(&store, "other@example.com", &SecretString::from("password")).await;
        assert!(matches!(weak, Err(AdminError::WeakPassword(_))));
    }

    #[tokio::test]
    async fn create_superuser_stores_the_same_email_as_join() {
        let store = MemoryStore::new();
        let password = SecretString::from("Admin-Pw!93821");
        let user = create_superuser(&store, "Root@ｅｘａｍｐｌｅ.com", &password)
            .await
            .unwrap();
        assert_eq!(user.email, "root@example.com");
        let again = create_superuser(&store, "root@exam\u{ad}ple.com", &password).await;
        assert!(matches!(again, Err(AdminError::EmailTaken)), "{again:?}");
        let idn = create_superuser(&store, "root@bücher.de", &password).await.unwrap();
        assert_eq!(idn.email, "root@xn--bcher-kva.de");
        for bad in ["a..b@example.com", "root@example", "root@example.１２３"] {
            let refused = create_superuser(&store, bad, &password).await;
            assert!(matches!(refused, Err(AdminError::InvalidEmail)), "{bad:?}: {refused:?}");
        }
    }

    /// Login trims the password it is sent: a padded one could never be typed in again.
    #[tokio::test]
    async fn create_superuser_refuses_a_padded_password() {
        let store = MemoryStore::new();
        for padded in [" Admin-Pw!93821", "Admin-Pw!93821 ", "\tAdmin-Pw!93821\u{3000}"] {
            let refused = create_superuser(&store, "padded@example.com", &SecretString::from(padded)).await;
            let Err(error) = refused else {
                panic!("{padded:?} was accepted");
            };
            let message = error.to_string();
            assert!(message.contains("whitespace"), "{message}");
            assert!(
                !message.contains("Admin-Pw"),
                "the message shows the password: {message}"
            );
        }
        assert!(!store.email_registered("padded@example.com").await.unwrap());
    }

    #[test]
    fn the_user_object_has_the_contract_fields_in_order() {
        let user = User {
            id: 3,
            email: "a@example.com".into(),
            password_hash: "secret-hash".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            gender: "female".into(),
            date_of_birth: Some("1990-01-02".into()),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: String::new(),
            last_login: None,
            session_epoch: 0,
            email_verified: false,
            social_links: 0,
        };
        assert_eq!(
            user_json(&user).to_string(),
            r#"{"pk":3,"email":"a@example.com","first_name":"A","last_name":"B","gender":"female","date_of_birth":"1990-01-02"}"#
        );
    }
}
