//! Logs as Lambda wants them (JSON when the function's `LoggingConfig` says so; the level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`), each line carrying the request's ids, and never a
//! secret: our code logs no request data, and the libraries that would — at TRACE — are held
//! below it whatever the level asks.

use std::future::Future;
use std::str::FromStr;

use lambda_http::{Body, Request, RequestExt, Response};
use tracing::{Instrument, Level, Span};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The `alert` field of a log line an operator must hear about: the template turns each into a
/// CloudWatch metric (a metric filter on `$.fields.alert`) with an alarm.
///
/// SES refused a message (reset, resend, join's confirmation): the client was answered as if it
/// had gone, so only this line tells that nobody gets their mail.
pub const MAIL_SEND_FAILED: &str = "mail_send_failed";
/// An AWS service refused a call for want of permission: the deploy's IAM policy lacks an action
/// the code needs, and the request was answered 500.
pub const AWS_ACCESS_DENIED: &str = "aws_access_denied";

/// Logs the [`AWS_ACCESS_DENIED`] alert when an AWS error `code` says IAM refused `service`'s
/// call: the deployed policy lacks what the code calls, which no retry fixes (the request is
/// answered as the failure it is; the operators' alarm counts these lines). Whether it did.
pub fn alert_if_access_denied(service: &'static str, code: Option<&str>) -> bool {
    let denied = matches!(code, Some("AccessDeniedException" | "AccessDenied"));
    if denied {
        tracing::error!(
            alert = AWS_ACCESS_DENIED,
            service,
            "IAM refused a call: the function's policy lacks an action the code needs"
        );
    }
    denied
}

/// Libraries whose TRACE events carry request or response data: lambda_runtime logs each raw
/// event (passwords, tokens, cookies) and each answer's headers (`Set-Cookie`); the SDK (every
/// `aws_*` crate) and the HTTP stack log what they send and receive (the signing key, read from
/// Secrets Manager, among it).
const DATA_BEARING_CRATES: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

fn may_carry_data(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or_default();
    krate.starts_with("aws_") || DATA_BEARING_CRATES.contains(&krate)
}

/// The subscriber every function installs at cold start, writing to `writer`. `level` is the
/// default level, `directives` `RUST_LOG`-style refinements, `json` Lambda's JSON format.
pub fn subscriber<W>(
    writer: W,
    level: LevelFilter,
    directives: &str,
    json: bool,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy(directives);
    // Lambda stamps each line with its time; the target says nothing to an operator.
    let format = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    let format = if json { format.json().boxed() } else { format.boxed() };
    let no_data = filter_fn(|metadata| !(*metadata.level() == Level::TRACE && may_carry_data(metadata.target())));
    // Global filters, not per-layer ones: with one output there is nothing to filter per layer,
    // and a per-layer filter has every span the SDK opens on each call looked up and checked on
    // every poll (docs/performance.md: 3% of a mypage request's instructions). A callsite either
    // filter disables is never built.
    tracing_subscriber::registry().with(filter).with(no_data).with(format)
}

// ANCHOR: variables
/// Installs [`subscriber`] on stdout, configured from the environment as Lambda sets it.
pub fn init() {
    let level_name = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let level = LevelFilter::from_str(&level_name).unwrap_or(LevelFilter::INFO);
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    // A second init (a test binary) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout, level, &directives, json));
}
// ANCHOR_END: variables

/// Runs `handler` inside the request's span: every line it logs carries the Lambda request id
/// and, once a token or password has identified the user, the user id.
pub async fn in_request_span<Fut>(request: Request, handler: impl FnOnce(Request) -> Fut) -> Response<Body>
where
    Fut: Future<Output = Response<Body>>,
{
    let request_id = request.lambda_context_ref().map(|context| context.request_id.clone());
    let span = tracing::info_span!("request", request_id, user_id = tracing::field::Empty);
    handler(request).instrument(span).await
}

/// Adds the user id to the current request's log lines from here on.
pub fn record_user(user_id: u64) {
    Span::current().record("user_id", user_id);
}

#[cfg(test)]
mod tests {
    use super::may_carry_data;

    #[test]
    fn data_bearing_targets_are_matched_by_crate_not_by_prefix() {
        assert!(may_carry_data("lambda_runtime::layers::api_response"));
        assert!(may_carry_data("aws_smithy_runtime::client::orchestrator"));
        assert!(may_carry_data("h2"));
        assert!(!may_carry_data("h2o"));
        assert!(!may_carry_data("shared::http"));
        assert!(!may_carry_data("login"));
    }
}
