//! POST /account/social/{provider}/ — sign in through a provider (dj-rest-auth's
//! `SocialLoginView`): an authorization `code` (with the client's PKCE `code_verifier`), an
//! `id_token`, or an `access_token` where the provider lets us check it was issued to our app.
//! Answers exactly as login does; the linking rules are `shared::social`'s.

use lambda_http::{Body, Request, Response};

use shared::http::{ApiError, Endpoint, serve};
use shared::social::{Social, prove, read_credential, sign_in};
use shared::store::Store;
use shared::{App, KeyUse};

/// It signs tokens and sends mail: it holds the signing keys (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Sign;

pub const ENDPOINT: Endpoint = Endpoint::post("Social Login", "/account/social/{provider}");

pub async fn handle<S: Store>(app: &App<S>, social: &Social, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| {
        social_login(app, social, request)
    })
    .await
}

async fn social_login<S: Store>(app: &App<S>, social: &Social, request: &Request) -> Result<Response<Body>, ApiError> {
    let provider = social.provider(&ENDPOINT, request)?;
    let credential = read_credential(request)?;
    let identity = prove(app, social, provider, &credential).await?;
    sign_in(app, provider, &identity, request).await
}
