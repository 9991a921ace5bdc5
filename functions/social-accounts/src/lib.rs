//! GET /account/socialaccounts/ — the bearer's linked provider accounts (dj-rest-auth's
//! `SocialAccountListView`): `id`, `provider`, `uid`, `last_login`, `date_joined`, oldest first.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use shared::auth::authenticate;
use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::social::link_json;
use shared::store::{SessionStore, SocialStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::get("Social Account List", "/account/socialaccounts");

pub async fn handle<S: SessionStore + SocialStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| list(app, request)).await
}

async fn list<S: SessionStore + SocialStore>(app: &App<S>, request: &Request) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let links = app.store.social_links_of(authenticated.user.id).await?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Array(links.iter().map(link_json).collect()),
    ))
}
