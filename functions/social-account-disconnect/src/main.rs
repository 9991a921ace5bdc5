//! The Lambda binary: the cold start and the event loop live in `shared::run_function`.

// One thread: an instance serves one request at a time, and a multi-threaded runtime would
// spend more CPU handing each event between its workers than the request itself costs
// (docs/performance.md, CPU per request through the runtime loop).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::run_function(social_account_disconnect::KEY_USE, social_account_disconnect::handle).await
}
