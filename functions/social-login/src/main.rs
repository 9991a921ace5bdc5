//! The Lambda binary: the providers' settings are read at cold start beside the application's
//! (`shared::social::Social`); the event loop lives in `shared::run_mailing_function`: a link made
//! by a verified address is told to the account's owner by mail.

// One thread: an instance serves one request at a time (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let social: &'static shared::social::Social = Box::leak(Box::new(shared::social::Social::from_env()?));
    shared::run_mailing_function(move |app, request| social_login::handle(app, social, request)).await
}
