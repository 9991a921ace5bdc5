//! The Lambda binary: the cold start and the event loop live in `shared::run_function`.

// One thread: an instance serves one request at a time (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::run_function(admin_events::KEY_USE, admin_events::handle).await
}
