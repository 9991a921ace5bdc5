//! POST /account/social/{provider}/connect/ — links a provider account to the bearer
//! (dj-rest-auth's `SocialConnectView`), with the same credentials as social login. A provider
//! account linked to someone else is refused (dj-rest-auth 7.2 would sign the caller in as that
//! other user instead). Answers the link, as the accounts list shows it: connecting starts no
//! session, so it mints no token.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use shared::auth::authenticate;
use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::social::{Social, connect, link_json, prove, read_credential};
use shared::store::{SessionOrigin, Store};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Social Connect", "/account/social/{provider}/connect");

pub async fn handle<S: Store>(app: &App<S>, social: &Social, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| {
        social_connect(app, social, request)
    })
    .await
}

async fn social_connect<S: Store>(
    app: &App<S>,
    social: &Social,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let provider = social.provider(&ENDPOINT, request)?;
    let credential = read_credential(request)?;
    let identity = prove(app, social, provider, &credential).await?;
    let link = connect(
        app,
        &authenticated.user,
        provider,
        &identity,
        &SessionOrigin::of(request),
    )
    .await?;
    tracing::info!(provider = %provider.name, "provider account connected");
    Ok(json_response(StatusCode::OK, &link_json(&link)))
}
