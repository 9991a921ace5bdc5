//! Which providers a deployment signs in with: `SOCIAL_PROVIDERS`, a JSON object from provider
//! name to its settings, read once per cold start. Google, Kakao and Naver need only their
//! client id (and Kakao its app id); their endpoints default to the providers' own, and any of
//! them can be pointed elsewhere (the tests' local provider). Any other name is an OpenID
//! Connect provider given by its issuer.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::ConfigError;

/// How a provider is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: discovery, JWKS, ID tokens (Google and any other by issuer).
    Oidc,
    /// Kakao: OpenID Connect for the ID token, its REST API for the address's verified flag
    /// and for checking an access token's app.
    Kakao,
    /// Naver: OAuth 2.0 code exchange, then its profile API (no verified flag, ever).
    Naver,
}

/// One provider as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    /// OpenID Connect (and Kakao): the exact `iss` of its ID tokens; discovery lives under it.
    pub issuer: Option<String>,
    /// Google's tokeninfo: how an access token is checked to be ours. Without it (other OpenID
    /// providers) access tokens are refused.
    pub tokeninfo_endpoint: Option<String>,
    /// Kakao's REST API base (`/v2/user/me`, `/v1/user/access_token_info`).
    pub api_base: Option<String>,
    /// Kakao's numeric app id, which an access token's info must name.
    pub app_id: Option<u64>,
    /// Naver's token endpoint and profile endpoint (`/v1/nid/me`).
    pub token_endpoint: Option<String>,
    pub profile_endpoint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderEntry {
    kind: Option<String>,
    client_id: String,
    issuer: Option<String>,
    tokeninfo_endpoint: Option<String>,
    api_base: Option<String>,
    app_id: Option<u64>,
    token_endpoint: Option<String>,
    profile_endpoint: Option<String>,
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_TOKENINFO: &str = "https://oauth2.googleapis.com/tokeninfo";
const KAKAO_ISSUER: &str = "https://kauth.kakao.com";
const KAKAO_API: &str = "https://kapi.kakao.com";
const NAVER_TOKEN: &str = "https://nid.naver.com/oauth2.0/token";
const NAVER_PROFILE: &str = "https://openapi.naver.com/v1/nid/me";

const PROVIDERS_EXPECTED: &str = "a JSON object from provider name (lowercase letters, digits, '-') to {\"client_id\", ...} \
     with https endpoints (http only on loopback), Kakao with its numeric app_id";

/// Every configured provider by name; empty when `SOCIAL_PROVIDERS` is unset.
#[derive(Debug, Clone, Default)]
pub struct SocialSettings {
    pub providers: BTreeMap<String, Provider>,
}

impl SocialSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(std::env::var("SOCIAL_PROVIDERS").ok().as_deref())
    }

    pub fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::Invalid {
            name: "SOCIAL_PROVIDERS",
            expected: PROVIDERS_EXPECTED,
        };
        let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
            return Ok(Self::default());
        };
        let entries: BTreeMap<String, ProviderEntry> = serde_json::from_str(value).map_err(|_| invalid())?;
        let mut providers = BTreeMap::new();
        for (name, entry) in entries {
            let provider = provider(&name, entry).ok_or_else(invalid)?;
            providers.insert(name, provider);
        }
        Ok(SocialSettings { providers })
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name)
    }
}

fn provider(name: &str, entry: ProviderEntry) -> Option<Provider> {
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !name_ok || entry.client_id.trim().is_empty() {
        return None;
    }
    let kind = match (entry.kind.as_deref(), name) {
        (Some("oidc"), _) | (None, "google") => ProviderKind::Oidc,
        (Some("kakao"), _) | (None, "kakao") => ProviderKind::Kakao,
        (Some("naver"), _) | (None, "naver") => ProviderKind::Naver,
        (None, _) => ProviderKind::Oidc,
        (Some(_), _) => return None,
    };
    let or =
        |given: Option<String>, default: &str, applies: bool| given.or_else(|| applies.then(|| default.to_owned()));
    let provider = Provider {
        name: name.to_owned(),
        kind,
        client_id: entry.client_id,
        issuer: match kind {
            ProviderKind::Oidc => or(entry.issuer, GOOGLE_ISSUER, name == "google"),
            ProviderKind::Kakao => or(entry.issuer, KAKAO_ISSUER, true),
            ProviderKind::Naver => None,
        },
        tokeninfo_endpoint: or(entry.tokeninfo_endpoint, GOOGLE_TOKENINFO, name == "google")
            .filter(|_| kind == ProviderKind::Oidc),
        api_base: or(entry.api_base, KAKAO_API, kind == ProviderKind::Kakao).filter(|_| kind == ProviderKind::Kakao),
        app_id: entry.app_id.filter(|_| kind == ProviderKind::Kakao),
        token_endpoint: or(entry.token_endpoint, NAVER_TOKEN, kind == ProviderKind::Naver)
            .filter(|_| kind == ProviderKind::Naver),
        profile_endpoint: or(entry.profile_endpoint, NAVER_PROFILE, kind == ProviderKind::Naver)
            .filter(|_| kind == ProviderKind::Naver),
    };
    let required_present = match kind {
        ProviderKind::Oidc => provider.issuer.is_some(),
        ProviderKind::Kakao => provider.app_id.is_some(),
        ProviderKind::Naver => true,
    };
    let urls = [
        &provider.issuer,
        &provider.tokeninfo_endpoint,
        &provider.api_base,
        &provider.token_endpoint,
        &provider.profile_endpoint,
    ];
    (required_present && urls.into_iter().flatten().all(|url| is_allowed_url(url))).then_some(provider)
}

/// HTTPS, or plain HTTP to this machine only (the tests' local provider): a provider's answers
/// decide who signs in, and must not cross a network in the clear.
pub fn is_allowed_url(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty() && !rest.starts_with('/');
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.starts_with('[') {
        true => authority.split_inclusive(']').next().unwrap_or_default(),
        false => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_providers_need_only_their_ids_and_default_to_their_own_endpoints() {
        let settings = SocialSettings::parse(Some(
            r#"{"google": {"client_id": "g"}, "kakao": {"client_id": "k", "app_id": 7}, "naver": {"client_id": "n"}}"#,
        ))
        .unwrap();
        let google = settings.provider("google").unwrap();
        assert_eq!(google.kind, ProviderKind::Oidc);
        assert_eq!(google.issuer.as_deref(), Some(GOOGLE_ISSUER));
        assert_eq!(google.tokeninfo_endpoint.as_deref(), Some(GOOGLE_TOKENINFO));
        let kakao = settings.provider("kakao").unwrap();
        assert_eq!(
            (kakao.kind, kakao.issuer.as_deref(), kakao.app_id),
            (ProviderKind::Kakao, Some(KAKAO_ISSUER), Some(7))
        );
        let naver = settings.provider("naver").unwrap();
        assert_eq!(naver.kind, ProviderKind::Naver);
        assert_eq!(naver.profile_endpoint.as_deref(), Some(NAVER_PROFILE));
        assert!(settings.provider("apple").is_none());
    }

    #[test]
    fn unset_is_no_provider_and_bad_settings_stop_the_start() {
        assert!(SocialSettings::parse(None).unwrap().providers.is_empty());
        assert!(SocialSettings::parse(Some(" ")).unwrap().providers.is_empty());
        for bad in [
            "[]",
            r#"{"google": {}}"#,
            r#"{"google": {"client_id": " "}}"#,
            r#"{"kakao": {"client_id": "k"}}"#,
            r#"{"corp": {"client_id": "c"}}"#,
            r#"{"Corp": {"client_id": "c", "issuer": "https://id.example.com"}}"#,
            r#"{"corp": {"client_id": "c", "issuer": "http://id.example.com"}}"#,
            r#"{"google": {"client_id": "g", "secret": "s"}}"#,
            r#"{"corp": {"kind": "saml", "client_id": "c", "issuer": "https://id.example.com"}}"#,
        ] {
            let error = SocialSettings::parse(Some(bad)).unwrap_err();
            assert!(
                error.to_string().starts_with("SOCIAL_PROVIDERS must be"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn plain_http_reaches_loopback_only() {
        assert!(is_allowed_url("https://accounts.google.com"));
        assert!(is_allowed_url("http://127.0.0.1:8080/google"));
        assert!(is_allowed_url("http://localhost/x"));
        assert!(is_allowed_url("http://[::1]:9/x"));
        assert!(!is_allowed_url("http://127.0.0.1.example.com/x"));
        assert!(!is_allowed_url("http://10.0.0.1/x"));
        assert!(!is_allowed_url("ftp://127.0.0.1/x"));
        assert!(!is_allowed_url("https:///x"));
    }
}
