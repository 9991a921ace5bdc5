//! POST /account/socialaccounts/{pk}/disconnect/ — unlinks one of the bearer's provider accounts
//! (dj-rest-auth's `SocialAccountDisconnectView`, answering `{}`), unless it is the account's
//! last way to sign in: a user with no password and no other link is refused with allauth's
//! words (dj-rest-auth would lock them out). The check and the removal are one conditional
//! write: two racing disconnects of a user's last two links cannot both pass.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::auth::authenticate;
use shared::http::{ApiError, Endpoint, FieldErrors, NON_FIELD_ERRORS, json_response, serve};
use shared::security_log;
use shared::social::NO_PASSWORD;
use shared::store::{EventKind, SessionOrigin, SessionStore, SocialStore};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const ENDPOINT: Endpoint = Endpoint::post("Social Account Disconnect", "/account/socialaccounts/{pk}/disconnect");

pub async fn handle<S: SessionStore + SocialStore>(app: &App<S>, request: Request) -> Response<Body> {
    serve(&app.config.cors, &ENDPOINT, &request, |request| {
        disconnect(app, request)
    })
    .await
}

async fn disconnect<S: SessionStore + SocialStore>(
    app: &App<S>,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let authenticated = authenticate(app, request).await?;
    let user = &authenticated.user;
    // Another user's link, an unknown id and a malformed one alike: not found among the caller's.
    let id = ENDPOINT.parameter(request, "pk").and_then(|pk| pk.parse::<u64>().ok());
    let links = app.store.social_links_of(user.id).await?;
    let link = links
        .iter()
        .find(|link| Some(link.id) == id)
        .ok_or(ApiError::NotFound)?;
    if !user.has_usable_password() && links.len() <= 1 {
        return Err(ApiError::Validation(FieldErrors::single(NON_FIELD_ERRORS, NO_PASSWORD)));
    }
    let event = security_log::own(
        &app.config,
        EventKind::SocialDisconnected,
        user.id,
        &SessionOrigin::of(request),
    );
    let event = security_log::with_detail(event, "provider", &link.provider);
    if !app
        .store
        .unlink_social_account(user, link, std::slice::from_ref(&event))
        .await?
    {
        // A link made or removed since the user was read: read again and retry.
        return Err(ApiError::Conflict);
    }
    security_log::log(&[event]);
    tracing::info!(provider = %link.provider, "provider account disconnected");
    Ok(json_response(StatusCode::OK, &json!({})))
}
