//! The Lambda binary: the cold start and the event loop live in `shared::run_mailing_function`.

// One thread: an instance serves one request at a time (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::run_mailing_function(admin_user_password_reset::handle).await
}
