// Sign-in through another provider (Google, Kakao, Naver): the browser's half of the OAuth 2.0
// authorization-code flow. The page sends the person to the provider's authorization endpoint;
// the provider sends them back to this page with `?code=…&state=…`; the page hands the code to
// the API, which exchanges it with the client secret (never in the browser) and answers as login
// does (or links the provider account, for "connect").
//
// - `state`: 256 random bits, the key under which this tab's sessionStorage keeps what the
//   return needs (provider, PKCE verifier, nonce, mode, redirect URI, when). A return whose state
//   this tab did not make, already used, or older than ten minutes is refused before any call:
//   a code planted in a link (login CSRF) signs nobody in.
// - PKCE (S256) and `nonce` where the provider's entry in config.js says it supports them.
// - The verifier has to outlive the trip to the provider, so it waits in sessionStorage (this
//   tab only, gone with it, single use); no token is ever stored.

import * as config from "../config.js";

const PREFIX = "account.social.";
const LIFETIME_MS = 10 * 60 * 1000;
const STATE_FORMAT = /^[A-Za-z0-9_-]{22,128}$/;

/** The providers config.js configures (none when it exports no SOCIAL_PROVIDERS). */
export function providers() {
  const configured = config.SOCIAL_PROVIDERS;
  if (!configured || typeof configured !== "object") return {};
  return Object.fromEntries(
    Object.entries(configured).filter(
      ([, entry]) => entry && typeof entry.authorize === "string" && /^https?:\/\//.test(entry.authorize) && typeof entry.client_id === "string",
    ),
  );
}

export function providerNames() {
  return Object.keys(providers());
}

/** Where the providers send the person back: this page's folder (`https://app.example.com/`). */
export function redirectUri() {
  return typeof config.SOCIAL_REDIRECT_URI === "string" && config.SOCIAL_REDIRECT_URI
    ? config.SOCIAL_REDIRECT_URI
    : new URL(".", location.href).href;
}

/** Why a return from a provider is refused; `key` names the message in i18n.js. */
export class SocialError extends Error {
  constructor(key, values = {}) {
    super(key);
    this.key = key;
    this.values = values;
  }
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(bytes) {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  return base64url(buffer);
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Drops this tab's entries older than their lifetime (abandoned trips to a provider). */
function prune(now = Date.now()) {
  for (let index = sessionStorage.length - 1; index >= 0; index -= 1) {
    const key = sessionStorage.key(index);
    if (!key?.startsWith(PREFIX)) continue;
    let created = NaN;
    try {
      created = JSON.parse(sessionStorage.getItem(key)).created;
    } catch {
      // unreadable: dropped below
    }
    if (!(now - created <= LIFETIME_MS)) sessionStorage.removeItem(key);
  }
}

/**
 * Sends the person to `name`'s authorization endpoint. `mode` is "login" (sign in, or sign up)
 * or "connect" (link the provider account to the signed-in user). Does not return when it works.
 */
export async function begin(name, mode) {
  const provider = providers()[name];
  if (!provider) throw new SocialError("social.error.unknownProvider");
  prune();
  const state = randomText(32); // 256 bits, 43 characters
  const verifier = provider.pkce ? randomText(48) : null; // 64 characters (43–128 allowed)
  const nonce = provider.nonce ? randomText(32) : null;
  const redirect_uri = redirectUri();

  const url = new URL(provider.authorize);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", provider.client_id);
  url.searchParams.set("redirect_uri", redirect_uri);
  if (provider.scope) url.searchParams.set("scope", provider.scope);
  url.searchParams.set("state", state);
  if (nonce) url.searchParams.set("nonce", nonce);
  if (verifier) {
    url.searchParams.set("code_challenge", await challengeOf(verifier));
    url.searchParams.set("code_challenge_method", "S256");
  }
  sessionStorage.setItem(PREFIX + state, JSON.stringify({ provider: name, verifier, nonce, mode, redirect_uri, created: Date.now() }));
  location.assign(url.href);
}

/** A provider's answer in this page's address (`code`, `state`, `error`), or null. */
export function returned() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("state") && !query.has("error")) return null;
  return { code: query.get("code"), state: query.get("state"), error: query.get("error") };
}

/** Takes the provider's answer out of the address bar (and so out of the history). */
export function clearAddress() {
  history.replaceState(null, "", location.pathname);
}

/**
 * The trip `answer` returns from, taken out of storage (single use): its provider and mode, and
 * the credential to send to the API. Throws SocialError when it must not be used.
 */
export function claim(answer) {
  prune();
  const state = answer.state ?? "";
  const key = PREFIX + state;
  const stored = STATE_FORMAT.test(state) ? sessionStorage.getItem(key) : null;
  if (stored === null) throw new SocialError("social.error.state");
  sessionStorage.removeItem(key);
  let trip;
  try {
    trip = JSON.parse(stored);
  } catch {
    throw new SocialError("social.error.state");
  }
  const age = Date.now() - trip.created;
  if (!(age <= LIFETIME_MS && age > -60_000)) throw new SocialError("social.error.expired", trip);
  if (answer.error) {
    // The provider's own words in the address are anyone's to write: only its error code is
    // shown, and only when it looks like one.
    const code = /^[A-Za-z0-9_.-]{1,64}$/.test(answer.error) ? answer.error : "error";
    throw new SocialError(code === "access_denied" ? "social.error.denied" : "social.error.provider", { ...trip, code });
  }
  if (!answer.code) throw new SocialError("social.error.state");
  const credential = { code: answer.code, redirect_uri: trip.redirect_uri, state };
  if (trip.verifier) credential.code_verifier = trip.verifier;
  if (trip.nonce) credential.nonce = trip.nonce;
  return { provider: trip.provider, mode: trip.mode === "connect" ? "connect" : "login", credential };
}
