// The account API as a browser should use it.
//
// - The access token lives in this module's memory only: never in localStorage, sessionStorage
//   or a readable cookie, so a script injected into the page later cannot find it at rest.
// - The refresh token lives in the API's `my-refresh-token` cookie (HttpOnly, Secure,
//   SameSite=Lax): every call sends `credentials: "include"`, and refresh and logout send no
//   token at all, so the API falls back to the cookie. Refresh tokens the API also returns in
//   bodies (login, join, rotation) are dropped on arrival.
// - A 401 on a call made with the access token triggers one refresh and one retry. Calls that
//   fail together share a single refresh: with rotation, a second refresh with the same cookie
//   would present a spent token, which the API treats as theft once its reuse interval is over.

import { API_BASE_URL } from "../config.js";

const base = API_BASE_URL.replace(/\/+$/, "");

let accessToken = null;
let refreshing = null; // the refresh in flight, shared by every caller
const listeners = new Set();

/** An answer of the API that is not a success: its status and its JSON body. */
export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body && typeof body === "object" ? body : {};
  }
}

/** Called with true or false whenever the page becomes signed in or out. */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isSignedIn() {
  return accessToken !== null;
}

function setAccess(token) {
  const before = accessToken !== null;
  accessToken = token;
  if (before !== (token !== null)) {
    for (const listener of listeners) listener(token !== null);
  }
}

async function send(path, { method = "GET", body, bearer = false, language } = {}) {
  const headers = { Accept: "application/json" };
  // The language of any mail the call sends (a CORS-safelisted header).
  if (language) headers["Accept-Language"] = language;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  let response;
  try {
    response = await fetch(`${base}/account/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "include",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { detail: null });
  }
  const text = await response.text();
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/**
 * A new access token from the refresh cookie. Concurrent callers share one request; resolves
 * true when signed in afterwards.
 */
export function refresh() {
  if (!refreshing) {
    refreshing = send("token/refresh/", { method: "POST", body: {} })
      .then((data) => {
        setAccess(data.access);
        return true;
      })
      .catch((error) => {
        if (error instanceof ApiError && error.status === 401) {
          setAccess(null);
          return false;
        }
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A call with the access token: one refresh and one retry after a 401. */
async function authorized(path, options = {}) {
  if (!accessToken && !(await refresh())) {
    throw new ApiError(401, { detail: "Authentication credentials were not provided." });
  }
  const token = accessToken;
  try {
    return await send(path, { ...options, bearer: true });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    // Another call may have refreshed already while this one was in flight.
    if (accessToken === token && !(await refresh())) throw error;
    return send(path, { ...options, bearer: true });
  }
}

export async function join(fields, language) {
  const data = await send("join/", { method: "POST", body: fields, language });
  // EMAIL_VERIFICATION=mandatory: no tokens until the address is verified.
  if (!data.refresh) return null;
  // Join sets no cookie: trade its refresh token for the cookie at once (a rotation sets it),
  // and keep neither token from the join's body.
  const rotated = await send("token/refresh/", { method: "POST", body: { refresh: data.refresh } });
  setAccess(rotated.access);
  return data.user;
}

export async function login(email, password) {
  const data = await send("login/", { method: "POST", body: { email, password } });
  setAccess(data.access);
  return data.user;
}

const socialPath = (provider) => `social/${encodeURIComponent(provider)}/`;

/**
 * Sign-in through a provider: `credential` is the code of its authorization-code flow with
 * `redirect_uri`, `state` and, where used, `code_verifier` and `nonce` (js/social.js). Answers as
 * login does, cookies included; a new user is created when nobody has the provider's address.
 */
export async function socialLogin(provider, credential) {
  const data = await send(socialPath(provider), { method: "POST", body: credential });
  setAccess(data.access);
  return data.user;
}

export async function logout() {
  try {
    await send("logout/", { method: "POST", body: {} });
  } catch (error) {
    // Every answer of logout deletes the cookies; a 401 means the session had already ended.
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  } finally {
    setAccess(null);
  }
}

export const myPage = () => authorized("mypage/");
export const user = () => authorized("user/");
export const updateUser = (fields) => authorized("user/", { method: "PATCH", body: fields });
export const changePassword = (fields) => authorized("password/change/", { method: "POST", body: fields });
export const sessions = () => authorized("sessions/");
export const endSession = (id) => authorized(`sessions/${encodeURIComponent(id)}/`, { method: "DELETE" });
export const revokeOtherSessions = () => authorized("sessions/revoke-others/", { method: "POST", body: {} });
/** A page of the bearer's security events, newest first; `cursor` is the `next` of the one before. */
export const events = (cursor) => authorized(cursor ? `events/?cursor=${encodeURIComponent(cursor)}` : "events/");

/** Links the provider account of `credential` (as socialLogin's) to the signed-in user: the link. */
export const connectSocial = (provider, credential) => authorized(`${socialPath(provider)}connect/`, { method: "POST", body: credential });
/** The signed-in user's links to provider accounts, oldest first. */
export const socialAccounts = () => authorized("socialaccounts/");
/** Removes a link; refused (400) when it is the last way to sign in. */
export const disconnectSocial = (id) => authorized(`socialaccounts/${encodeURIComponent(id)}/disconnect/`, { method: "POST", body: {} });

/** Ends the session and forgets it here, after the account is deleted. */
export async function deleteAccount(password) {
  await authorized("user/delete/", { method: "POST", body: { password } });
  setAccess(null);
}

// --- the admin routes (staff only: anyone else gets 403) ---------------------------------------

/** `path` with the query `params` whose values are not empty. */
function withQuery(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

const adminUserPath = (pk) => `admin/users/${encodeURIComponent(pk)}/`;

/**
 * A page of users, by canonical email: `q` an email prefix, `is_active` and `is_staff` "true" or
 * "false", `limit` 1-100, `cursor` the `next` of the page before (with the same q and flags).
 */
export const adminUsers = ({ q, is_active, is_staff, limit, cursor } = {}) =>
  authorized(withQuery("admin/users/", { q, is_active, is_staff, limit, cursor }));
/** One user: their fields, live sessions and 20 latest events. */
export const adminUser = (pk) => authorized(adminUserPath(pk));
/** Changes some of a user's fields and flags; answers the user as `adminUser` does. */
export const updateAdminUser = (pk, fields) => authorized(adminUserPath(pk), { method: "PATCH", body: fields });
export const deleteAdminUser = (pk) => authorized(adminUserPath(pk), { method: "DELETE" });
/** Ends every session of a user: `{revoked}`, how many were live. */
export const adminSignOut = (pk) => authorized(`${adminUserPath(pk)}sign-out/`, { method: "POST", body: {} });
/** Mails a user a password reset link: `{detail}`. */
export const adminPasswordReset = (pk, language) =>
  authorized(`${adminUserPath(pk)}password-reset/`, { method: "POST", body: {}, language });
/** A page of everyone's security events, newest first: `user` a pk, `type` an event type. */
export const adminEvents = ({ user, type, limit, cursor } = {}) =>
  authorized(withQuery("admin/events/", { user, type, limit, cursor }));

// Password reset and address verification: the mail is written in `language`.
export const requestPasswordReset = (email, language) => send("password/reset/", { method: "POST", body: { email }, language });
export const confirmPasswordReset = (fields) => send("password/reset/confirm/", { method: "POST", body: fields });
export const verifyEmail = (key) => send("join/verify-email/", { method: "POST", body: { key } });
export const resendConfirmation = (email, language) => send("join/resend-email/", { method: "POST", body: { email }, language });
