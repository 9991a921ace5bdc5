//! The Lambda binary: the cold start and the event loop live in `shared::run_function`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::run_function(join::handle).await
}
