//! Calls to providers, over the HTTPS stack the AWS clients already link (hyper and rustls over
//! ring, `aws-smithy-http-client`): no second HTTP client in the binary. Each call is bounded
//! ([`CALL_TIMEOUT`]) and its answer's size capped; a provider that is down, slow or answers
//! garbage is [`ProviderError::Unavailable`] (our 503), never a hang.

use std::sync::LazyLock;
use std::time::Duration;

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::http::Request as SmithyRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use lambda_http::http;
use serde_json::Value;

/// The longest a provider may take to answer one call: well inside the function's timeout,
/// with the store's calls and a second provider call after it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest answer read from a provider (discovery documents and JWKS are a few KiB).
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why a provider call gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable, timed out, a 5xx, or not JSON: worth retrying later (503).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused what we sent (a 4xx with its reason): the client's input was bad.
    #[error("provider refused: {0}")]
    Refused(String),
}

/// One connector per process: connections to a provider are kept between warm invocations.
/// Trusts the system's roots (providers chain to public CAs of their choosing, unlike the AWS
/// endpoints `crate::aws` pins); plain HTTP reaches only loopback (`settings::is_allowed_url`).
static CONNECTOR: LazyLock<Connector> = LazyLock::new(|| {
    Connector::builder()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(TrustStore::default())
                .build()
                .unwrap_or_default(),
        )
        .build()
});

/// An answer: its status and its JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// `GET url`, with a bearer token when given.
pub async fn get_json(url: &str, bearer: Option<&str>) -> Result<Answer, ProviderError> {
    let mut request = http::Request::get(url).header(http::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        // A token no header can carry (control characters) is the client's bad input.
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ProviderError::Refused("a token no header can carry".into()))?;
        request = request.header(http::header::AUTHORIZATION, value);
    }
    send(request.body(SdkBody::empty())).await
}

/// `POST url` with a form body (a token endpoint).
pub async fn post_form(url: &str, form: &[(&str, &str)]) -> Result<Answer, ProviderError> {
    let body = serde_urlencoded::to_string(form).map_err(|_| ProviderError::Refused("unencodable form".into()))?;
    let request = http::Request::post(url)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(SdkBody::from(body));
    send(request).await
}

async fn send(request: Result<http::Request<SdkBody>, http::Error>) -> Result<Answer, ProviderError> {
    let request = request.map_err(|_| ProviderError::Unavailable("unusable provider URL".into()))?;
    let request =
        SmithyRequest::try_from(request).map_err(|_| ProviderError::Unavailable("unusable provider URL".into()))?;
    let call = async {
        let response = CONNECTOR
            .call(request)
            .await
            .map_err(|error| ProviderError::Unavailable(format!("no answer: {error}")))?;
        let status = response.status().as_u16();
        let bytes = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|_| ProviderError::Unavailable("answer cut short".into()))?
            .into_bytes();
        Ok::<_, ProviderError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| ProviderError::Unavailable("timed out".into()))??;
    if status >= 500 {
        return Err(ProviderError::Unavailable(format!("answered {status}")));
    }
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(ProviderError::Unavailable("answer too large".into()));
    }
    let body = match bytes.is_empty() {
        true => Value::Null,
        false => {
            serde_json::from_slice(&bytes).map_err(|_| ProviderError::Unavailable(format!("{status}, not JSON")))?
        }
    };
    Ok(Answer { status, body })
}
