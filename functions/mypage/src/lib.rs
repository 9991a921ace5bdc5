//! GET /account/mypage/ — a greeting for the bearer of a live access token.
//!
//! The local router and the deploy template also send every unknown path under /account/ here:
//! `serve` answers those with the contract's JSON 404 before any work is done.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::auth::authenticate;
use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::store::SessionStore;
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get("My Page", "/account/mypage");

pub async fn handle<S: SessionStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| mypage(app, request)).await
}

async fn mypage<S: SessionStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let message = format!("반갑습니다, {}님!", authenticated.user.email);
    Ok(json_response(StatusCode::OK, &json!({"message": message})))
}
