//! The AWS SDK configuration every client shares: one HTTPS client that trusts only the roots
//! AWS endpoints chain to, deliberate timeouts and bounded retries.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Amazon Trust Services' roots (Amazon Root CA 1–4 and Starfield Services Root G2): every
/// DynamoDB and Secrets Manager endpoint chains to one of them. Compiled in, they spare each
/// cold start the scan of the system's trust store (about 4 ms of a 7 ms start, measured in
/// docs/performance.md) and leave no other authority able to impersonate those endpoints.
/// Local servers are spoken to over plain HTTP and need no roots.
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The configuration for every AWS client: credentials and region from the environment, our
/// HTTPS client, and timeouts and retries that let a sick dependency answer within seconds.
pub async fn sdk_config() -> SdkConfig {
    let trust_store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS);
    // ring rather than aws-lc: the same TLS for a third of the code in every binary.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust_store)
                .build()
                .unwrap_or_default(),
        )
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(1000))
                .operation_attempt_timeout(Duration::from_millis(1500))
                .operation_timeout(Duration::from_millis(4000))
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::AMAZON_TRUST_SERVICES_ROOTS;

    // The store tests build their client here too, so a root that failed to parse would stop
    // them (the TLS layer parses every root when the client is first used, HTTP or HTTPS).
    #[test]
    fn the_trust_store_holds_the_five_amazon_trust_services_roots() {
        let pem = std::str::from_utf8(AMAZON_TRUST_SERVICES_ROOTS).expect("PEM is ASCII");
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 5);
        for root in [
            "Amazon_Root_CA_1",
            "Amazon_Root_CA_2",
            "Amazon_Root_CA_3",
            "Amazon_Root_CA_4",
        ] {
            assert!(pem.contains(&format!("# {root}\n")), "{root} missing");
        }
        assert!(pem.contains("# Starfield_Services_Root_Certificate_Authority_-_G2\n"));
    }
}
