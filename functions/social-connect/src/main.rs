//! The Lambda binary: the providers' settings are read at cold start beside the application's
//! (`shared::social::Social`); the event loop lives in `shared::run_function`.

// One thread: an instance serves one request at a time (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let social: &'static shared::social::Social = Box::leak(Box::new(shared::social::Social::from_env()?));
    shared::run_function(social_connect::KEY_USE, move |app, request| {
        social_connect::handle(app, social, request)
    })
    .await
}
