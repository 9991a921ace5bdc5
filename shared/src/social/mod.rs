//! Social login (the tutorial's `allauth.socialaccount`, with dj-rest-auth's routes): a provider
//! proves who the person is ([`identity`]), and the linking rules decide which user that is.
//!
//! | the provider account | the address                                   | outcome                          |
//! |----------------------|-----------------------------------------------|----------------------------------|
//! | linked to a user     | —                                             | that user (inactive: refused)    |
//! | not linked           | no user has it                                | a new user, no usable password   |
//! | not linked           | a user has it, both sides verified            | linked to that user, told so     |
//! | not linked           | a user has it, either side unverified         | refused: already registered      |
//! | not linked           | the provider shares none                      | refused                          |
//!
//! So registering someone's address at a provider never takes over their account here, and a
//! link is never made to an address nobody proved.

pub mod fetch;
pub mod identity;
pub mod oidc;
pub mod settings;

use std::collections::HashMap;
use std::path::PathBuf;

use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::account::{MAX_NAME_CHARS, login_answer, new_session, session_tokens};
use crate::app::App;
use crate::clock::now_unix;
use crate::clock::timestamp;
use crate::config::{ConfigError, EmailVerification};
use crate::http::input::{body_object, normalise_email};
use crate::http::{ApiError, Endpoint, FieldErrors, NON_FIELD_ERRORS};
use crate::ids::random_id;
use crate::mail::delivery::send_social_connected;
use crate::mail::message::Language;
use crate::security_log;
use crate::store::{
    EventKind, EventSubject, LinkOutcome, NewSocialLink, NewUser, SessionOrigin, SocialLink, SocialRegistration, Store,
    UNUSABLE_PASSWORD_PREFIX, User,
};

pub use identity::{Credential, Identity};
pub use settings::{Provider, ProviderKind, SocialSettings};

use fetch::ProviderError;
use identity::IdentityError;

/// dj-rest-auth's answer to a body with no credential.
pub const NO_CREDENTIAL: &str = "Incorrect input. access_token or code is required.";
/// dj-rest-auth's (allauth's) answer when the address belongs to an account we may not link.
pub const ALREADY_REGISTERED: &str = "User is already registered with this e-mail address.";
/// allauth's answer to connecting a provider account another user holds.
pub const CONNECTED_ELSEWHERE: &str = "The third-party account is already connected to a different account.";
/// allauth's refusal to disconnect the last way to sign in.
pub const NO_PASSWORD: &str = "Your account has no password set up.";
/// dj-rest-auth's words for an inactive user.
pub const ACCOUNT_DISABLED: &str = "User account is disabled.";
/// Ours: a provider account without an address cannot become a user here (login is by address).
pub const NO_EMAIL: &str =
    "The provider did not share an e-mail address. Allow it at the provider, or join with a password.";
/// dj-rest-auth's answer (login's) to an unverified address under mandatory verification.
pub const EMAIL_NOT_VERIFIED: &str = "E-mail is not verified.";

/// The longest credential accepted (Google's ID tokens are ~1 KiB; Kakao's ~1.5 KiB).
const MAX_CREDENTIAL_BYTES: usize = 8192;

/// Where the providers' client secrets are (a JSON object from provider name to secret).
enum SecretSource {
    None,
    SecretsManager(String),
    File(PathBuf),
}

/// The configured providers and their client secrets (read on first need, then kept).
pub struct Social {
    pub settings: SocialSettings,
    source: SecretSource,
    secrets: tokio::sync::OnceCell<HashMap<String, SecretString>>,
}

impl Social {
    /// `SOCIAL_PROVIDERS`, and `SOCIAL_CLIENT_SECRETS_ARN` (Secrets Manager, on AWS) or
    /// `SOCIAL_CLIENT_SECRETS_FILE` (locally): read at cold start, the secrets on first use.
    pub fn from_env() -> Result<Self, ConfigError> {
        let settings = SocialSettings::from_env()?;
        let set = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        let source = match (set("SOCIAL_CLIENT_SECRETS_ARN"), set("SOCIAL_CLIENT_SECRETS_FILE")) {
            (Some(arn), _) => SecretSource::SecretsManager(arn),
            (None, Some(file)) => SecretSource::File(file.into()),
            (None, None) => SecretSource::None,
        };
        Ok(Social {
            settings,
            source,
            secrets: Default::default(),
        })
    }

    /// Providers whose secrets are given here (tests).
    pub fn new(settings: SocialSettings, secrets: HashMap<String, SecretString>) -> Self {
        Social {
            settings,
            source: SecretSource::None,
            secrets: tokio::sync::OnceCell::new_with(Some(secrets)),
        }
    }

    /// The provider a route names: an unconfigured one is not found.
    pub fn provider(&self, endpoint: &Endpoint, request: &Request) -> Result<&Provider, ApiError> {
        endpoint
            .parameter(request, "provider")
            .and_then(|name| self.settings.provider(&name))
            .ok_or(ApiError::NotFound)
    }

    async fn client_secret<S>(&self, app: &App<S>, provider: &Provider) -> Result<Option<String>, ApiError> {
        let secrets = self
            .secrets
            .get_or_try_init(|| async {
                let text = match &self.source {
                    SecretSource::None => return Ok(HashMap::new()),
                    SecretSource::File(path) => std::fs::read_to_string(path).map_err(|error| {
                        tracing::error!(%error, "the social client secrets file could not be read");
                        ApiError::Internal
                    })?,
                    SecretSource::SecretsManager(arn) => read_secret(app.sdk.as_ref(), arn).await?,
                };
                serde_json::from_str::<HashMap<String, String>>(&text)
                    .map(|map| {
                        map.into_iter()
                            .map(|(name, secret)| (name, SecretString::from(secret)))
                            .collect()
                    })
                    .map_err(|_| {
                        tracing::error!("the social client secrets are not a JSON object of strings");
                        ApiError::Internal
                    })
            })
            .await?;
        Ok(secrets
            .get(&provider.name)
            .map(|secret| secret.expose_secret().to_owned()))
    }
}

async fn read_secret(sdk: Option<&aws_config::SdkConfig>, arn: &str) -> Result<String, ApiError> {
    let sdk = sdk.ok_or(ApiError::Internal)?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    match client.get_secret_value().secret_id(arn).send().await {
        Ok(output) => output.secret_string.ok_or_else(|| {
            tracing::error!("the social client secrets have no string value");
            ApiError::Internal
        }),
        Err(error) => {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            crate::logging::alert_if_access_denied("secretsmanager", error.code());
            tracing::warn!(error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&error), "social client secrets unreadable");
            Err(ApiError::Unavailable)
        }
    }
}

/// The credential of a body: `code` (with `code_verifier`, `redirect_uri`, `nonce`, `state`),
/// `id_token` (with `nonce`) or `access_token`, in that order of preference.
pub fn read_credential(request: &Request) -> Result<Credential, ApiError> {
    let body = body_object(request)?;
    let mut errors = FieldErrors::new();
    let mut text = |name: &str| match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) if value.len() > MAX_CREDENTIAL_BYTES => {
            errors.add(
                name,
                format!("Ensure this field has no more than {MAX_CREDENTIAL_BYTES} characters."),
            );
            None
        }
        Some(Value::String(value)) => Some(value.trim().to_owned()).filter(|value| !value.is_empty()),
        Some(_) => {
            errors.add(name, "Not a valid string.");
            None
        }
    };
    let (code, id_token, access_token) = (text("code"), text("id_token"), text("access_token"));
    let (code_verifier, redirect_uri, nonce, state) = (
        text("code_verifier"),
        text("redirect_uri"),
        text("nonce"),
        text("state"),
    );
    errors.into_result()?;
    match (code, id_token, access_token) {
        (Some(code), _, _) => Ok(Credential::Code {
            code,
            code_verifier,
            redirect_uri,
            nonce,
            state,
        }),
        (None, Some(id_token), _) => Ok(Credential::IdToken { id_token, nonce }),
        (None, None, Some(access_token)) => Ok(Credential::AccessToken { access_token }),
        (None, None, None) => Err(refused(NO_CREDENTIAL)),
    }
}

fn refused(message: &str) -> ApiError {
    ApiError::Validation(FieldErrors::single(NON_FIELD_ERRORS, message))
}

/// Who the credential proves the person to be at `provider`. A presented ID token is
/// remembered until it expires: the same one never signs in twice.
pub async fn prove<S: Store>(
    app: &App<S>,
    social: &Social,
    provider: &Provider,
    credential: &Credential,
) -> Result<Identity, ApiError> {
    let secret = match credential {
        Credential::Code { .. } => social.client_secret(app, provider).await?,
        _ => None,
    };
    let now = now_unix();
    let (identity, presented) = identity::identify(provider, credential, secret.as_deref(), now)
        .await
        .map_err(|error| match error {
            IdentityError::Provider(ProviderError::Unavailable(reason)) => {
                tracing::warn!(provider = %provider.name, %reason, "provider unavailable");
                ApiError::Unavailable
            }
            IdentityError::Provider(ProviderError::Refused(reason)) => {
                tracing::info!(provider = %provider.name, %reason, "provider refused the call");
                refused(identity::INCORRECT_VALUE)
            }
            IdentityError::Refused { message, reason } => {
                tracing::info!(provider = %provider.name, %reason, "social credential refused");
                refused(message)
            }
            IdentityError::Replayed => refused(identity::INCORRECT_VALUE),
        })?;
    if let Some(presented) = presented
        && !app
            .store
            .claim_id_token(&presented.digest, presented.expires_at)
            .await?
    {
        tracing::info!(provider = %provider.name, "an ID token presented again");
        return Err(refused(identity::INCORRECT_VALUE));
    }
    Ok(identity)
}

/// A new link of this identity, now.
fn new_link(provider: &Provider, identity: &Identity) -> NewSocialLink {
    NewSocialLink {
        provider: provider.name.clone(),
        uid: identity.uid.clone(),
        at: timestamp(time::OffsetDateTime::now_utc()),
    }
}

fn event_of(
    app_config: &crate::config::Config,
    kind: EventKind,
    user_id: u64,
    origin: &SessionOrigin,
    provider: &Provider,
) -> crate::store::SecurityEvent {
    security_log::with_detail(
        security_log::own(app_config, kind, user_id, origin),
        "provider",
        &provider.name,
    )
}

/// A name as the provider gives it, cut to what the user fields hold, no control characters.
fn name_field(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The user the identity signs in as, by the linking rules (the table above), and the link.
/// A new user comes with its first session when one may start (`session`).
async fn resolve<S: Store>(
    app: &App<S>,
    provider: &Provider,
    identity: &Identity,
    origin: &SessionOrigin,
    language: Language,
) -> Result<(User, SocialLink), ApiError> {
    // Two rounds at most: a racing first login of the same person (or a deletion) can move the
    // ground between our read and our write once; the second round reads what won.
    for _ in 0..2 {
        if let Some(link) = app.store.find_social_link(&provider.name, &identity.uid).await? {
            match app.store.find_by_id(link.user_id).await? {
                Some(user) => return Ok((user, link)),
                None => {
                    // The user was deleted: the link went with them.
                    app.store.forget_stale_link(&link).await?;
                    continue;
                }
            }
        }
        let email = identity
            .email
            .as_deref()
            .and_then(normalise_email)
            .filter(|email| !email.is_empty())
            .ok_or_else(|| refused(NO_EMAIL))?;
        if let Some(user) = app.store.find_by_email(&email).await? {
            if !(identity.email_verified && user.email_verified) {
                return Err(refused(ALREADY_REGISTERED));
            }
            if !user.is_active {
                return Err(refused(ACCOUNT_DISABLED));
            }
            let connected = security_log::with_detail(
                event_of(&app.config, EventKind::SocialConnected, user.id, origin, provider),
                "how",
                "same verified address",
            );
            match app
                .store
                .link_social_account(&user, new_link(provider, identity), std::slice::from_ref(&connected))
                .await?
            {
                LinkOutcome::Linked(link) => {
                    security_log::log(&[connected]);
                    tracing::info!(provider = %provider.name, "provider account linked by its verified address");
                    // The owner hears of it at once: a link they did not make must not go unseen.
                    send_social_connected(app, &user, &provider.name, language).await;
                    return Ok((user, link));
                }
                LinkOutcome::AlreadyLinked(link) => return Ok((user, link)),
                LinkOutcome::TakenBy(_) | LinkOutcome::UserChanged => continue,
            }
        }
        let new_user = NewUser {
            email,
            // Django's unusable password: "!" and random characters no password hashes to.
            password_hash: format!("{UNUSABLE_PASSWORD_PREFIX}{}", random_id()),
            first_name: name_field(&identity.first_name),
            last_name: name_field(&identity.last_name),
            gender: String::new(),
            date_of_birth: None,
            is_staff: false,
            is_superuser: false,
            joined_at: timestamp(time::OffsetDateTime::now_utc()),
        };
        // About the user the store creates: it writes their id in (0 until then).
        let mut joined = event_of(&app.config, EventKind::Join, 0, origin, provider);
        let link = new_link(provider, identity);
        match app
            .store
            .create_social_user(
                new_user,
                identity.email_verified,
                link,
                None,
                std::slice::from_ref(&joined),
            )
            .await?
        {
            SocialRegistration::Created(user, link) => {
                (joined.user, joined.actor) = (EventSubject::User(user.id), Some(user.id));
                security_log::log(&[joined]);
                tracing::info!(provider = %provider.name, "joined through a provider");
                return Ok((user, link));
            }
            SocialRegistration::EmailTaken | SocialRegistration::LinkTaken => continue,
        }
    }
    // Still moving after two rounds: let the client retry.
    Err(ApiError::Conflict)
}

/// Signs the person in as the user the linking rules give: login's answer, a session of its own.
pub async fn sign_in<S: Store>(
    app: &App<S>,
    provider: &Provider,
    identity: &Identity,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let origin = SessionOrigin::of(request);
    let (user, link) = resolve(app, provider, identity, &origin, Language::of(request)).await?;
    if !user.is_active {
        return Err(refused(ACCOUNT_DISABLED));
    }
    if app.config.email.verification == EmailVerification::Mandatory && !user.email_verified {
        return Err(refused(EMAIL_NOT_VERIFIED));
    }
    let now = now_unix();
    let session = new_session(&app.tokens, now, origin.clone());
    let tokens = session_tokens(&app.tokens, user.id, &session, now)?;
    let at = timestamp(time::OffsetDateTime::now_utc());
    let logged_in = event_of(&app.config, EventKind::Login, user.id, &origin, provider);
    let (started, recorded) = tokio::join!(
        app.store
            .start_session(&user, session, &at, std::slice::from_ref(&logged_in)),
        app.store.record_social_login(&link, &at)
    );
    if let Err(error) = recorded {
        tracing::warn!(%error, "the link's last login not recorded");
    }
    if !started? {
        // Deactivated, or the password changed, between our read and our write.
        return Err(ApiError::Conflict);
    }
    security_log::log(&[logged_in]);
    crate::logging::record_user(user.id);
    tracing::info!(provider = %provider.name, "logged in through a provider");
    Ok(login_answer(app, &user, &tokens))
}

/// Links the identity's provider account to `user` (the connect route).
pub async fn connect<S: Store>(
    app: &App<S>,
    user: &User,
    provider: &Provider,
    identity: &Identity,
    origin: &SessionOrigin,
) -> Result<SocialLink, ApiError> {
    let connected = event_of(&app.config, EventKind::SocialConnected, user.id, origin, provider);
    let outcome = app
        .store
        .link_social_account(user, new_link(provider, identity), std::slice::from_ref(&connected))
        .await?;
    match outcome {
        LinkOutcome::Linked(link) => {
            security_log::log(&[connected]);
            Ok(link)
        }
        LinkOutcome::AlreadyLinked(link) => Ok(link),
        LinkOutcome::TakenBy(owner) => {
            if app.store.find_by_id(owner).await?.is_some() {
                return Err(refused(CONNECTED_ELSEWHERE));
            }
            // Held by a deleted user: free it (claim and link item), and let the client retry.
            if let Some(stale) = app.store.find_social_link(&provider.name, &identity.uid).await? {
                app.store.forget_stale_link(&stale).await?;
            }
            Err(ApiError::Conflict)
        }
        LinkOutcome::UserChanged => Err(ApiError::Conflict),
    }
}

/// A link as dj-rest-auth's `SocialAccountSerializer` shows it.
pub fn link_json(link: &SocialLink) -> Value {
    json!({
        "id": link.id,
        "provider": link.provider,
        "uid": link.uid,
        "last_login": link.last_login,
        "date_joined": link.date_joined,
    })
}
