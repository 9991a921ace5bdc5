//! GET /account/.well-known/jwks.json — the public keys tokens are signed with (the current one
//! and the previous one, each with `kid`, `use` and `alg`), and
//! GET /account/.well-known/openid-configuration — the discovery document that points at them,
//! so another service (an API Gateway JWT authorizer, say) verifies our tokens without our
//! secret. Both are built from the keys in memory: no DynamoDB round trip. An HS256 deployment
//! has no public key: both answer the contract's JSON 404.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};

use shared::http::{ApiError, Endpoint, json_response, serve};
use shared::{App, KeyUse};

/// It only verifies tokens: under ES256 it holds the public keys alone (`shared::KeyUse`).
pub const KEY_USE: KeyUse = KeyUse::Verify;

pub const JWKS: Endpoint = Endpoint::get("JSON Web Key Set", "/account/.well-known/jwks.json");
pub const OPENID_CONFIGURATION: Endpoint =
    Endpoint::get("OpenID Configuration", "/account/.well-known/openid-configuration");

/// How long others may keep either document. A new key signs as soon as it is read after a
/// rotation, so a verifier that caches the key set must fetch it again for a `kid` it does not
/// know (API Gateway does); an hour bounds how long a dropped key stays in caches.
const CACHE_CONTROL: &str = "public, max-age=3600";

pub async fn handle<S>(app: &App<S>, request: Request) -> Response<Body> {
    let endpoint = match JWKS.owns(request.raw_http_path()) {
        true => &JWKS,
        false => &OPENID_CONFIGURATION,
    };
    serve(&app.config.cors, endpoint, &request, |_| async {
        let document = match endpoint.path == JWKS.path {
            true => jwks(app),
            false => openid_configuration(app),
        }?;
        let mut response = json_response(StatusCode::OK, &document);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        Ok(response)
    })
    .await
}

fn jwks<S>(app: &App<S>) -> Result<Value, ApiError> {
    app.tokens.ring().jwks().ok_or(ApiError::NotFound)
}

/// The fields an API Gateway JWT authorizer reads (`issuer`, `jwks_uri`), with what OpenID
/// Connect Discovery 1.0 §3 requires of every provider; this service is no OpenID provider
/// (it has no authorization endpoint), so it claims nothing else.
fn openid_configuration<S>(app: &App<S>) -> Result<Value, ApiError> {
    let ring = app.tokens.ring();
    ring.jwks().ok_or(ApiError::NotFound)?;
    let issuer = app.config.jwt_issuer.as_deref().ok_or(ApiError::NotFound)?;
    Ok(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": [ring.algorithm.name()],
        "subject_types_supported": ["public"],
        "response_types_supported": ["token"],
        "claims_supported": ["iss", "aud", "exp", "iat", "jti", "user_id", "sid", "token_type"],
    }))
}
