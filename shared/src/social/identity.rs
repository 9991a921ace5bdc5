//! Who a provider says the person is: from an authorization code (exchanged here with our client
//! secret and the client's PKCE verifier), an ID token, or an access token where the provider
//! lets us check that it was issued to our app. Each path ends in one [`Identity`].

use serde_json::Value;

use super::fetch::{self, ProviderError};
use super::oidc::{self, Discovery, IdClaims, IdTokenError};
use super::settings::{Provider, ProviderKind};

/// dj-rest-auth's words when the token endpoint refuses the code.
pub const CODE_REFUSED: &str = "Failed to exchange code for access token";
/// dj-rest-auth's words for a credential the provider's checks refuse.
pub const INCORRECT_VALUE: &str = "Incorrect value";
/// A provider whose access tokens cannot be checked to be ours.
pub const CODE_ONLY: &str = "This provider signs in with an authorization code only.";
/// Google's two documented spellings of its ID tokens' issuer.
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// What the client sent (dj-rest-auth's `SocialLoginSerializer` fields).
#[derive(Debug, Clone)]
pub enum Credential {
    Code {
        code: String,
        code_verifier: Option<String>,
        redirect_uri: Option<String>,
        nonce: Option<String>,
        state: Option<String>,
    },
    IdToken {
        id_token: String,
        nonce: Option<String>,
    },
    AccessToken {
        access_token: String,
    },
}

/// The person as the provider describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: String,
    /// As the provider gives it (normalised by the caller).
    pub email: Option<String>,
    /// Whether the provider vouches that the person controls `email`.
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
}

/// Why no identity came out.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The credential was refused: the message is the answer's (a contract string).
    #[error("credential refused ({reason})")]
    Refused { message: &'static str, reason: String },
    /// An ID token that was accepted before.
    #[error("ID token replayed")]
    Replayed,
}

impl From<IdTokenError> for IdentityError {
    fn from(error: IdTokenError) -> Self {
        match error {
            IdTokenError::Provider(error) => IdentityError::Provider(error),
            IdTokenError::Rejected(rejected) => refused(INCORRECT_VALUE, rejected.to_string()),
        }
    }
}

fn refused(message: &'static str, reason: impl Into<String>) -> IdentityError {
    IdentityError::Refused {
        message,
        reason: reason.into(),
    }
}

/// A verified ID token presented by the client (not one we fetched): the replay check needs it.
#[derive(Debug, Clone)]
pub struct PresentedIdToken {
    pub digest: String,
    pub expires_at: i64,
}

/// The identity the credential proves, and the presented ID token to remember, if any.
pub async fn identify(
    provider: &Provider,
    credential: &Credential,
    client_secret: Option<&str>,
    now: i64,
) -> Result<(Identity, Option<PresentedIdToken>), IdentityError> {
    match (provider.kind, credential) {
        (ProviderKind::Naver, Credential::Code { code, state, .. }) => {
            let access_token = naver_exchange(provider, code, state.as_deref(), client_secret).await?;
            Ok((naver_profile(provider, &access_token).await?, None))
        }
        (ProviderKind::Naver, _) => Err(refused(CODE_ONLY, "Naver tokens cannot be checked")),
        (_, Credential::IdToken { id_token, nonce }) => {
            let discovery = discover(provider, now).await?;
            let claims = verify(provider, &discovery, id_token, nonce.as_deref(), now).await?;
            let presented = PresentedIdToken {
                digest: crate::ids::hex(&crate::tokens::jws::sha256(id_token.as_bytes())),
                expires_at: claims.exp,
            };
            Ok((from_claims(provider, &claims.claims, &claims.sub), Some(presented)))
        }
        (
            _,
            Credential::Code {
                code,
                code_verifier,
                redirect_uri,
                nonce,
                ..
            },
        ) => {
            let discovery = discover(provider, now).await?;
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", provider.client_id.as_str()),
            ];
            form.extend(redirect_uri.as_deref().map(|uri| ("redirect_uri", uri)));
            form.extend(code_verifier.as_deref().map(|verifier| ("code_verifier", verifier)));
            form.extend(client_secret.map(|secret| ("client_secret", secret)));
            let answer = fetch::post_form(&discovery.token_endpoint, &form).await?;
            let access_token = answer.body.get("access_token").and_then(Value::as_str);
            let (200, Some(access_token)) = (answer.status, access_token) else {
                return Err(refused(
                    CODE_REFUSED,
                    format!("token endpoint answered {}", answer.status),
                ));
            };
            let id_token = answer.body.get("id_token").and_then(Value::as_str);
            match (provider.kind, id_token) {
                (ProviderKind::Kakao, id_token) => {
                    let identity = kakao_user(provider, access_token).await?;
                    if let Some(id_token) = id_token {
                        let claims = verify(provider, &discovery, id_token, nonce.as_deref(), now).await?;
                        if claims.sub != identity.uid {
                            return Err(refused(INCORRECT_VALUE, "ID token and profile disagree"));
                        }
                    }
                    Ok((identity, None))
                }
                (_, Some(id_token)) => {
                    let claims = verify(provider, &discovery, id_token, nonce.as_deref(), now).await?;
                    Ok((from_claims(provider, &claims.claims, &claims.sub), None))
                }
                (_, None) => Err(refused(CODE_REFUSED, "no ID token in the token answer")),
            }
        }
        (ProviderKind::Kakao, Credential::AccessToken { access_token }) => {
            let info = kakao_api(provider, "/v1/user/access_token_info", access_token).await?;
            let app_id = info.get("app_id").and_then(Value::as_u64);
            if app_id.is_none() || app_id != provider.app_id {
                return Err(refused(INCORRECT_VALUE, "access token of another app"));
            }
            let identity = kakao_user(provider, access_token).await?;
            if info.get("id").and_then(Value::as_u64).map(|id| id.to_string()) != Some(identity.uid.clone()) {
                return Err(refused(INCORRECT_VALUE, "token info and profile disagree"));
            }
            Ok((identity, None))
        }
        (ProviderKind::Oidc, Credential::AccessToken { access_token }) => {
            let Some(tokeninfo) = &provider.tokeninfo_endpoint else {
                return Err(refused(CODE_ONLY, "no way to check this provider's access tokens"));
            };
            let query = serde_urlencoded::to_string([("access_token", access_token.as_str())])
                .map_err(|_| refused(INCORRECT_VALUE, "an unencodable access token"))?;
            let url = format!("{tokeninfo}?{query}");
            let info = fetch::get_json(&url, None).await?;
            let audience = ["aud", "azp"].map(|name| info.body.get(name).and_then(Value::as_str));
            if info.status != 200 || audience.iter().any(|aud| *aud != Some(provider.client_id.as_str())) {
                return Err(refused(INCORRECT_VALUE, "access token not issued to us"));
            }
            let discovery = discover(provider, now).await?;
            let Some(userinfo) = &discovery.userinfo_endpoint else {
                return Err(ProviderError::Unavailable("no userinfo endpoint".into()).into());
            };
            let answer = fetch::get_json(userinfo, Some(access_token)).await?;
            let (200, Value::Object(claims)) = (answer.status, &answer.body) else {
                return Err(refused(INCORRECT_VALUE, format!("userinfo answered {}", answer.status)));
            };
            let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
            if sub.is_empty() || info.body.get("sub").and_then(Value::as_str) != Some(sub) {
                return Err(refused(INCORRECT_VALUE, "token info and userinfo disagree"));
            }
            Ok((from_claims(provider, claims, sub), None))
        }
    }
}

async fn discover(provider: &Provider, now: i64) -> Result<Discovery, ProviderError> {
    let issuer = provider
        .issuer
        .as_deref()
        .ok_or_else(|| ProviderError::Unavailable("no issuer configured".into()))?;
    oidc::discovery(issuer, now).await
}

async fn verify(
    provider: &Provider,
    discovery: &Discovery,
    id_token: &str,
    nonce: Option<&str>,
    now: i64,
) -> Result<IdClaims, IdTokenError> {
    let issuer = discovery.issuer.as_str();
    let issuers: Vec<&str> = match GOOGLE_ISSUERS.contains(&issuer) {
        true => GOOGLE_ISSUERS.to_vec(),
        false => vec![issuer],
    };
    oidc::verify_id_token(id_token, discovery, &issuers, &provider.client_id, nonce, now).await
}

/// An identity from OpenID claims. Kakao's ID token carries no verified flag: its address counts
/// as unverified here (its code and access-token paths read the flag from its API).
fn from_claims(provider: &Provider, claims: &serde_json::Map<String, Value>, sub: &str) -> Identity {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    // Google's tokeninfo spells booleans as strings; its ID tokens as booleans.
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    };
    Identity {
        uid: sub.to_owned(),
        email: claims.get("email").and_then(Value::as_str).map(str::to_owned),
        email_verified: verified && provider.kind == ProviderKind::Oidc,
        first_name: text("given_name"),
        last_name: text("family_name"),
    }
}

async fn kakao_api(provider: &Provider, path: &str, access_token: &str) -> Result<Value, IdentityError> {
    let base = provider
        .api_base
        .as_deref()
        .ok_or_else(|| ProviderError::Unavailable("no Kakao API configured".into()))?;
    let answer = fetch::get_json(&format!("{base}{path}"), Some(access_token)).await?;
    match answer.status {
        200 => Ok(answer.body),
        status => Err(refused(INCORRECT_VALUE, format!("Kakao answered {status}"))),
    }
}

/// Kakao's `/v2/user/me`: the address counts as verified only if Kakao says it is both valid and
/// verified (`kakao_account.is_email_valid` and `is_email_verified`).
async fn kakao_user(provider: &Provider, access_token: &str) -> Result<Identity, IdentityError> {
    let me = kakao_api(provider, "/v2/user/me", access_token).await?;
    let uid = me
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| refused(INCORRECT_VALUE, "Kakao profile without id"))?;
    let account = me.get("kakao_account");
    let flag = |name: &str| account.and_then(|account| account.get(name)).and_then(Value::as_bool) == Some(true);
    let nickname = account
        .and_then(|account| account.pointer("/profile/nickname"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Identity {
        uid: uid.to_string(),
        email: account
            .and_then(|account| account.get("email"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        email_verified: flag("is_email_valid") && flag("is_email_verified"),
        first_name: nickname.to_owned(),
        last_name: String::new(),
    })
}

async fn naver_exchange(
    provider: &Provider,
    code: &str,
    state: Option<&str>,
    client_secret: Option<&str>,
) -> Result<String, IdentityError> {
    let endpoint = provider
        .token_endpoint
        .as_deref()
        .ok_or_else(|| ProviderError::Unavailable("no Naver token endpoint".into()))?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", provider.client_id.as_str()),
        ("code", code),
    ];
    form.extend(client_secret.map(|secret| ("client_secret", secret)));
    form.extend(state.map(|state| ("state", state)));
    let answer = fetch::post_form(endpoint, &form).await?;
    // Naver answers a refused code with 200 and `error` fields.
    match (answer.status, answer.body.get("access_token").and_then(Value::as_str)) {
        (200, Some(token)) if answer.body.get("error").is_none() => Ok(token.to_owned()),
        (status, _) => Err(refused(CODE_REFUSED, format!("Naver token endpoint answered {status}"))),
    }
}

/// Naver's `/v1/nid/me` (`resultcode` "00"): an id, and an address Naver never vouches for.
async fn naver_profile(provider: &Provider, access_token: &str) -> Result<Identity, IdentityError> {
    let endpoint = provider
        .profile_endpoint
        .as_deref()
        .ok_or_else(|| ProviderError::Unavailable("no Naver profile endpoint".into()))?;
    let answer = fetch::get_json(endpoint, Some(access_token)).await?;
    let profile = answer.body.get("response");
    let text = |name: &str| profile.and_then(|profile| profile.get(name)).and_then(Value::as_str);
    match (
        answer.status,
        answer.body.get("resultcode").and_then(Value::as_str),
        text("id"),
    ) {
        (200, Some("00"), Some(id)) if !id.is_empty() => Ok(Identity {
            uid: id.to_owned(),
            email: text("email").map(str::to_owned),
            email_verified: false,
            first_name: text("name").or(text("nickname")).unwrap_or_default().to_owned(),
            last_name: String::new(),
        }),
        (status, _, _) => Err(refused(INCORRECT_VALUE, format!("Naver profile answered {status}"))),
    }
}
