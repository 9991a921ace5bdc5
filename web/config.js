// The settings of the front end. `make dev` and the browser tests serve their own version of
// this file (tools/web_server.py); when you host web/, set them here.

// Where the account API is: your API's base URL (the stage URL or custom domain, without
// /account).
export const API_BASE_URL = "http://localhost:9000";

// The social-login providers the page offers ("Continue with …" on the login and join pages,
// "Connect …" on the connected accounts page), by the name the API's SOCIAL_PROVIDERS gives them
// (the {provider} of /account/social/{provider}/). Empty: no button. Each entry:
//
//   authorize   the provider's authorization endpoint
//   client_id   the same client id as the API's SOCIAL_PROVIDERS (no secret: it is in every
//               authorization URL; the client secret stays with the API)
//   scope       what to ask for; leave it out to send none
//   pkce        true to send a PKCE S256 challenge (the API sends the verifier with the code)
//   nonce       true to send a nonce (the API checks the ID token carries it)
//
// For example:
//
//   export const SOCIAL_PROVIDERS = {
//     google: {
//       authorize: "https://accounts.google.com/o/oauth2/v2/auth",
//       client_id: "1234-abc.apps.googleusercontent.com",
//       scope: "openid email profile",
//       pkce: true,
//       nonce: true,
//     },
//     // Kakao: the REST API key. Without a scope Kakao asks for the consent items set in the
//     // app (and issues an ID token when OpenID Connect is on there); with one, list Kakao's
//     // consent item ids and openid, e.g. "openid account_email profile_nickname".
//     kakao: { authorize: "https://kauth.kakao.com/oauth/authorize", client_id: "<REST API key>", pkce: true, nonce: true },
//     // Naver: plain OAuth 2.0, no scope, no PKCE, no nonce (the state is sent to the API).
//     naver: { authorize: "https://nid.naver.com/oauth2.0/authorize", client_id: "<client id>", pkce: false, nonce: false },
//   };
//
// The providers send the person back to this page's folder with ?code=…&state=…: register that
// URL, exactly, with its trailing slash (https://app.example.com/), as the redirect URI at each
// provider (Google: the OAuth client's "Authorized redirect URIs"; Kakao: the app's Redirect URI
// under Kakao Login; Naver: the application's Callback URL). To use another URL that serves this
// page, also export it: export const SOCIAL_REDIRECT_URI = "https://app.example.com/";
export const SOCIAL_PROVIDERS = {};
