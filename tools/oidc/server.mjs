// A local stand-in for the social-login providers, for the service's tests: ONE process on
// 127.0.0.1:<port> serving
// - two real OpenID Connect providers (panva's oidc-provider, pinned in package.json), issuers
//   http://127.0.0.1:<port>/google and http://127.0.0.1:<port>/kakao, with their development login
//   and consent pages (any login name, any password);
// - fakes of the providers' non-OIDC APIs: Kakao's user/me and access_token_info, Google's
//   tokeninfo, and Naver's OAuth 2.0 token endpoint and profile API (Naver is not OIDC here);
// - test-only control routes under /control/ (flows, Naver codes, key rotation, outages).
// See README.md beside this file. Usage:
//   node server.mjs --port N [--redirect-uri URL]...
// Nothing here is for production: it accepts any password, keeps everything in memory, and logs
// one line per request (method, path without its query, status): never a token, code or secret.

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// ---------------------------------------------------------------------------------------------
// Command line

function usage(message) {
  process.stderr.write(`${message}\nusage: node server.mjs --port N [--redirect-uri URL]...\n`);
  process.exit(2);
}

let cli;
try {
  cli = parseArgs({
    options: {
      port: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  }).values;
} catch (error) {
  usage(error.message);
}
const PORT = Number(cli.port);
if (!cli.port || !Number.isInteger(PORT) || PORT < 1 || PORT > 65535) {
  usage('--port N is required (1..65535)');
}
const ORIGIN = `http://127.0.0.1:${PORT}`;
const DEFAULT_REDIRECT_URI = 'http://127.0.0.1/callback';
const REDIRECT_URIS = [...new Set([DEFAULT_REDIRECT_URI, ...cli['redirect-uri']])];
for (const uri of REDIRECT_URIS) {
  if (!URL.canParse(uri)) usage(`--redirect-uri ${uri} is not a URL`);
}

// The control routes' own requests to this server (the flows of /control/flow) carry this
// header, so an outage set for a provider never blocks them: control routes are never affected.
const CONTROL_BYPASS = randomBytes(18).toString('base64url');

// ---------------------------------------------------------------------------------------------
// Accounts: synthesised from the login name typed at the provider's login page (see README.md).

const firstSeen = new Map();

function account(provider, login) {
  const lower = login.toLowerCase();
  // 13 hex digits (52 bits) fit a JSON number exactly (< 2^53): at most 16 decimal digits.
  const digest = createHash('sha256').update(`${provider}\0${login}`).digest('hex');
  const sub = String(Number.parseInt(digest.slice(0, 13), 16));
  const hasEmail = !lower.startsWith('noemail');
  const email = lower.includes('@') ? lower : `${lower}@example.com`;
  const local = login.split('@')[0] || login;
  const givenName = local.charAt(0).toUpperCase() + local.slice(1);
  const familyName = 'Tester';
  const key = `${provider}\0${login}`;
  if (!firstSeen.has(key)) firstSeen.set(key, new Date());
  return {
    login,
    sub,
    email: hasEmail ? email : undefined,
    emailVerified: !lower.startsWith('unverified'),
    givenName,
    familyName,
    name: `${givenName} ${familyName}`,
    connectedAt: firstSeen.get(key).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

// Naver's id is an opaque string per app and user (a base64url string since 2021).
function naverId(login) {
  return createHash('sha256').update(`naver\0${login}`).digest('base64url');
}

// ---------------------------------------------------------------------------------------------
// Signing keys: RSA 2048, RS256; the kid is the key's RFC 7638 thumbprint.

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
    .digest('base64url');
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

// ---------------------------------------------------------------------------------------------
// Storage: one in-memory store per provider that outlives the Provider instance, so a rotation
// (which builds a new instance, see rebuild()) keeps sessions, interactions, grants, codes and
// tokens. oidc-provider calls the factory once per model (Session, AccessToken, ...).

class StoreAdapter {
  constructor(model, store) {
    this.model = model;
    this.store = store;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  live(key) {
    const entry = this.store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(key);
      return undefined;
    }
    return entry;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    return this.live(this.key(id))?.payload;
  }

  async findBy(field, value) {
    const prefix = `${this.model}:`;
    for (const key of this.store.keys()) {
      if (!key.startsWith(prefix)) continue;
      const payload = this.live(key)?.payload;
      if (payload && payload[field] === value) return payload;
    }
    return undefined;
  }

  async findByUid(uid) {
    return this.findBy('uid', uid);
  }

  async findByUserCode(userCode) {
    return this.findBy('userCode', userCode);
  }

  async consume(id) {
    const entry = this.live(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of this.store) {
      if (entry.payload?.grantId === grantId) this.store.delete(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The two OpenID Connect providers.

const CLIENTS = {
  google: [
    { client_id: 'local-google-client', client_secret: 'local-google-secret' },
    { client_id: 'other-app-client', client_secret: 'other-app-secret' },
  ],
  // other-app-client exists on kakao too: its tokens are what access_token_info answers with
  // another app_id for.
  kakao: [
    { client_id: 'local-kakao-client', client_secret: 'local-kakao-secret' },
    { client_id: 'other-app-client', client_secret: 'other-app-secret' },
  ],
};
const DEFAULT_CLIENT = { google: 'local-google-client', kakao: 'local-kakao-client' };
const KAKAO_APP_IDS = { 'local-kakao-client': 424242 };
const OTHER_KAKAO_APP_ID = 999999;

const PROVIDERS = ['google', 'kakao'];
// Per provider: its store, the login names of its subs, its published keys ([signing key,
// previous key]), its instance and that instance's request handler.
const oidc = {};
// Cookies are signed with keys of this process, the same for every instance of a provider.
const COOKIE_KEYS = [randomBytes(32).toString('base64url')];

function configuration(name, keys) {
  const store = oidc[name].store;
  const cookie = { httpOnly: true, sameSite: 'lax', path: `/${name}` };
  return {
    adapter: (model) => new StoreAdapter(model, store),
    clients: CLIENTS[name].map((client) => ({
      ...client,
      redirect_uris: REDIRECT_URIS,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    })),
    jwks: { keys },
    responseTypes: ['code'],
    // Confidential clients: PKCE (S256, the only method oidc-provider 9 supports) is optional,
    // so the tests can run flows both with and without it.
    pkce: { required: () => false },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    // The scopes' claims go into the ID token too, as Google's ID tokens carry them.
    conformIdTokenClaims: false,
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    features: {
      // The built-in login and consent pages: the browser tests click through them.
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
    },
    async findAccount(ctx, id) {
      // id is the account's sub (see loginAsSub); the login name it was made from is kept here.
      const login = oidc[name].logins.get(id);
      if (login === undefined) return undefined;
      const who = account(name, login);
      return {
        accountId: id,
        async claims() {
          return {
            sub: who.sub,
            ...(who.email === undefined ? {} : { email: who.email, email_verified: who.emailVerified }),
            name: who.name,
            given_name: who.givenName,
            family_name: who.familyName,
          };
        },
      };
    },
    cookies: {
      keys: COOKIE_KEYS,
      // Both providers share one host: names of their own keep their sessions apart.
      names: {
        session: `_${name}_session`,
        interaction: `_${name}_interaction`,
        resume: `_${name}_interaction_resume`,
      },
      long: cookie,
      short: cookie,
    },
    ttl: {
      AuthorizationCode: 600,
      AccessToken: 3600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
  };
}

// oidc-provider makes the account id (and so the sub) whatever was typed at its development
// login page. This pre-middleware (its docs/README.md, "Pre- and post-middlewares") reads the login
// form's submission first and puts the account's numeric sub in place of the login name,
// keeping the name (for the e-mail and names claims); the development submit handler then reads
// the rewritten form (oidc-provider takes an already parsed req.body, and warns once about it).
function loginAsSub(name) {
  return async (ctx, next) => {
    if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)
      && ctx.is('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(await readBody(ctx.req));
      const login = form.get('login');
      if (form.get('prompt') === 'login' && login) {
        const who = account(name, login);
        oidc[name].logins.set(who.sub, login);
        form.set('login', who.sub);
      }
      ctx.req.body = Object.fromEntries(form);
    }
    await next();
  };
}

// oidc-provider fixes its key set when it is constructed, so a rotation builds a new instance
// with the new key set and swaps it in behind the mount: requests under way finish on the old
// one, new ones reach the new one. The store is shared (see StoreAdapter), so a code or token
// issued before the rotation still redeems or verifies after it.
function rebuild(name, keys) {
  const provider = new Provider(`${ORIGIN}/${name}`, configuration(name, keys));
  provider.use(loginAsSub(name));
  provider.on('server_error', (ctx, error) => {
    process.stderr.write(`${name}: server_error: ${error?.message}\n`);
  });
  Object.assign(oidc[name], { keys, provider, handle: provider.callback() });
}

for (const name of PROVIDERS) {
  oidc[name] = { store: new Map(), logins: new Map() };
  rebuild(name, [newSigningKey()]);
}

// Mounts a provider under /<name>, as oidc-provider's documentation shows for a bare node
// handler ("Mounting oidc-provider", the hapi and nest examples): the prefix is taken off req.url
// and the whole path kept in req.originalUrl, from which the provider derives its mount path
// for every URL it writes (discovery, redirects, form actions).
function mount(name, req, res) {
  const prefix = `/${name}`;
  let rest = req.url.slice(prefix.length);
  if (!rest.startsWith('/')) rest = `/${rest}`;
  req.originalUrl = req.url;
  req.url = rest;
  oidc[name].handle(req, res);
}

// An access token issued by that provider, looked up in its store, and the login name of its
// account (unknown: undefined).
async function findAccessToken(name, value) {
  if (!value) return undefined;
  const token = await oidc[name].provider.AccessToken.find(value, { ignoreExpiration: true });
  const login = token && oidc[name].logins.get(token.accountId);
  if (login === undefined) return undefined;
  const now = Math.floor(Date.now() / 1000);
  return { token, login, expired: token.exp <= now, expiresIn: Math.max(0, token.exp - now) };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json;charset=UTF-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function readBody(req, limit = 65536) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // answered below
  }
  throw Object.assign(new Error('the body must be a JSON object'), { status: 400 });
}

// Query parameters and, for a form POST, the form's.
async function readParams(req, url) {
  const params = new URLSearchParams(url.searchParams);
  if (req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    for (const [key, value] of form) params.set(key, value);
  }
  return params;
}

function bearer(req) {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

// ---------------------------------------------------------------------------------------------
// Fake: Kakao's user API.
// Sources read (through a search index's stored copies, in excerpts):
// - https://developers.kakao.com/docs/latest/en/kakaologin/rest-api and
//   https://developers.kakao.com/docs/in/user-mgmt/rest-api: GET /v2/user/me with an access
//   token, kakao_account, the ${SCOPE}_needs_agreement fields
// - https://developers.kakao.com/sdk/reference/android-rx/release/kakao-open-android-docs/com.kakao.sdk.user.model/-access-token-info/index.html:
//   access_token_info's id, expires_in (seconds left) and app_id
// - https://developers.kakao.com/docs/latest/en/rest-api/error-code: -401, HTTP 401, for an
//   invalid app key or access token
// - https://devtalk.kakao.com/t/topic/134883 (Kakao's forum): the bodies
//   {"code":-401,"msg":"this access token does not exist"}, "this access token is already
//   expired" (access_token_info), "no authentication key!"
// The rest of user/me's shape (connected_at, has_email, is_email_valid, is_email_verified,
// profile.nickname, name) follows the brief; a copy of Kakao's page says the has_${FIELD} fields
// are deprecated, so the service should not depend on has_email.

function kakaoError(res, msg) {
  sendJson(res, 401, { msg, code: -401 });
}

async function kakaoUserMe(req, res) {
  const value = bearer(req);
  if (!value) return kakaoError(res, 'no authentication key!');
  const found = await findAccessToken('kakao', value);
  if (!found || found.expired) return kakaoError(res, 'this access token does not exist');
  const who = account('kakao', found.login);
  const scopes = new Set(String(found.token.scope ?? '').split(' '));
  const kakaoAccount = {
    profile_needs_agreement: false,
    profile: { nickname: who.givenName },
    name_needs_agreement: false,
    name: who.name,
  };
  if (who.email !== undefined && scopes.has('email')) {
    Object.assign(kakaoAccount, {
      has_email: true,
      email_needs_agreement: false,
      is_email_valid: true,
      is_email_verified: who.emailVerified,
      email: who.email,
    });
  }
  // The id as a JSON integer: it is below 2^53, so exact.
  return sendJson(res, 200, { id: Number(who.sub), connected_at: who.connectedAt, kakao_account: kakaoAccount });
}

async function kakaoAccessTokenInfo(req, res) {
  const value = bearer(req);
  if (!value) return kakaoError(res, 'no authentication key!');
  const found = await findAccessToken('kakao', value);
  if (!found) return kakaoError(res, 'this access token does not exist');
  if (found.expired) return kakaoError(res, 'this access token is already expired');
  const who = account('kakao', found.login);
  return sendJson(res, 200, {
    id: Number(who.sub),
    expires_in: found.expiresIn,
    app_id: KAKAO_APP_IDS[found.token.clientId] ?? OTHER_KAKAO_APP_ID,
  });
}

// ---------------------------------------------------------------------------------------------
// Fake: Google's tokeninfo endpoint, for an access token.
// Sources read (stored copies, in excerpts):
// - https://cloud.google.com/nodejs/docs/reference/google-auth-library/latest/google-auth-library/tokeninfo:
//   aud, azp, sub, scopes, email, email_verified, access_type ("online" by default, or "offline")
// - https://github.com/googlearchive/gplus-verifytoken-java/pull/4 and
//   https://github.com/EddyVerbruggen/cordova-plugin-googleplus/issues/521: a bad token gets 400
//   {"error": "invalid_token", "error_description": "Invalid Value"}
// - Google's own page on the endpoint,
//   https://developers.google.com/identity/sign-in/web/backend-auth#calling-the-tokeninfo-endpoint,
//   was only seen cited (by issue threads), not read.
// Every value is a string (exp, expires_in, email_verified "true"/"false") as the brief has it:
// the raw endpoint's JSON, not the library's parsed types.

async function googleTokenInfo(req, res, url) {
  const params = await readParams(req, url);
  const found = await findAccessToken('google', params.get('access_token'));
  if (!found || found.expired) {
    return sendJson(res, 400, { error: 'invalid_token', error_description: 'Invalid Value' });
  }
  const { token } = found;
  const who = account('google', found.login);
  const scope = String(token.scope ?? '');
  const scopes = new Set(scope.split(' '));
  const body = {
    azp: token.clientId,
    aud: token.clientId,
    sub: who.sub,
    scope,
    exp: String(token.exp),
    expires_in: String(found.expiresIn),
  };
  if (who.email !== undefined && scopes.has('email')) {
    body.email = who.email;
    body.email_verified = String(who.emailVerified);
  }
  body.access_type = scopes.has('offline_access') ? 'offline' : 'online';
  return sendJson(res, 200, body);
}

// ---------------------------------------------------------------------------------------------
// Fake: Naver Login (OAuth 2.0): token endpoint and profile API. Codes come from
// POST /control/naver-code instead of an authorization page.
// Sources read (stored copies, in excerpts):
// - https://developers.naver.com/docs/login/api/api.md: the login API (authorization, token
//   issue/refresh/delete); https://developers.naver.com/docs/login/profile/profile.md:
//   GET https://openapi.naver.com/v1/nid/me with "Authorization: Bearer", and "id" unique per
//   application (no NAVER ID, no e-mail verification flag)
// - https://developers.naver.com/docs/common/openapiguide/errorcode.md: 401 for a missing or
//   invalid (expired) access token
// - https://velog.io/@hellosesang/네이버-로그인-Web-구현-방법-정리 (a blog): the token answer
//   {access_token, refresh_token, token_type "bearer", expires_in "3600"} and the nid/me answer
//   {resultcode "00", message "success", response {email, nickname, ..., id, name}}
// - https://skylarcoding.tistory.com/343 (a blog): the token answer's error / error_description
// - https://jimmyblog.gitbook.io/jimmys-blog/jimmys-tech/oauth2/undefined (a blog): the id is a
//   base64 string of up to 64 characters for apps made since May 2021
// - "024" / "Authentication failed" is from NAVER's Search Ad API FAQ,
//   https://naver-ad-api.github.io/developers/en/docs/faq, not from the login docs.
// Not confirmed from a page read here: token errors answered with HTTP 200, and the texts
// "no valid data in session" (used or unknown code) and "wrong client id / client secret pair";
// they follow the brief.

const NAVER_CLIENT = { id: 'local-naver-client', secret: 'local-naver-secret' };
const naver = { codes: new Map(), accessTokens: new Map(), refreshTokens: new Map() };
const NAVER_CODE_SECONDS = 600;
const NAVER_TOKEN_SECONDS = 3600;

function opaque(bytes = 32) {
  return randomBytes(bytes).toString('base64url');
}

function naverIssue(login) {
  const accessToken = opaque(48);
  naver.accessTokens.set(accessToken, { login, expiresAt: Date.now() + NAVER_TOKEN_SECONDS * 1000 });
  return accessToken;
}

async function naverToken(req, res, url) {
  const params = await readParams(req, url);
  const fail = (error, description) => sendJson(res, 200, { error, error_description: description });
  if (params.get('client_id') !== NAVER_CLIENT.id || params.get('client_secret') !== NAVER_CLIENT.secret) {
    return fail('invalid_request', 'wrong client id / client secret pair');
  }
  const grantType = params.get('grant_type');
  if (grantType === 'authorization_code') {
    const code = params.get('code') ?? '';
    const entry = naver.codes.get(code);
    if (!entry || entry.expiresAt <= Date.now() || entry.state !== params.get('state')) {
      return fail('invalid_request', 'no valid data in session');
    }
    naver.codes.delete(code); // single use
    const refreshToken = opaque(48);
    naver.refreshTokens.set(refreshToken, { login: entry.login });
    return sendJson(res, 200, {
      access_token: naverIssue(entry.login),
      refresh_token: refreshToken,
      token_type: 'bearer',
      expires_in: String(NAVER_TOKEN_SECONDS),
    });
  }
  if (grantType === 'refresh_token') {
    const entry = naver.refreshTokens.get(params.get('refresh_token') ?? '');
    if (!entry) return fail('invalid_request', 'invalid refresh token');
    return sendJson(res, 200, {
      access_token: naverIssue(entry.login),
      token_type: 'bearer',
      expires_in: String(NAVER_TOKEN_SECONDS),
    });
  }
  return fail('unsupported_grant_type', 'unsupported grant type');
}

function naverMe(req, res) {
  const entry = naver.accessTokens.get(bearer(req) ?? '');
  if (!entry || entry.expiresAt <= Date.now()) {
    return sendJson(res, 401, { resultcode: '024', message: 'Authentication failed' });
  }
  const who = account('naver', entry.login);
  const response = { id: naverId(entry.login) };
  if (who.email !== undefined) response.email = who.email;
  response.name = who.name;
  response.nickname = who.givenName;
  return sendJson(res, 200, { resultcode: '00', message: 'success', response });
}

// ---------------------------------------------------------------------------------------------
// Control: /control/flow drives the real authorization-code flow through the provider's own
// HTTP endpoints, as a browser would: a cookie jar, redirects followed by hand, the development
// login form submitted with the login and a password, then the consent form.

class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      if (at < 1) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const gone = attributes.some((attribute) => {
        const [key, val = ''] = attribute.split('=');
        const k = key.trim().toLowerCase();
        return (k === 'max-age' && Number(val) <= 0) || (k === 'expires' && Date.parse(val) <= Date.now());
      });
      if (gone || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

function unescapeHtml(text) {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

// The first POST form of a page: its action and hidden fields.
function parseForm(html) {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const fields = new URLSearchParams();
  for (const input of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input[0])?.[1];
    const value = /\bvalue="([^"]*)"/i.exec(input[0])?.[1] ?? '';
    const type = /\btype="([^"]*)"/i.exec(input[0])?.[1]?.toLowerCase();
    if (name && type === 'hidden') fields.set(unescapeHtml(name), unescapeHtml(value));
  }
  return { action: unescapeHtml(form[1]), fields, hasLogin: /\bname="login"/i.test(form[2]) };
}

class FlowError extends Error {
  constructor(status, body) {
    super(body.error_description ?? body.error);
    this.status = status;
    this.body = body;
  }
}

async function selfFetch(url, jar, init = {}) {
  const headers = { 'x-oidc-control': CONTROL_BYPASS, ...(init.headers ?? {}) };
  const cookie = jar?.header();
  if (cookie) headers.cookie = cookie;
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar?.take(response);
  return response;
}

async function discovery(name) {
  const response = await selfFetch(`${ORIGIN}/${name}/.well-known/openid-configuration`);
  if (!response.ok) throw new FlowError(502, { error: 'flow_failed', error_description: `discovery answered ${response.status}` });
  return response.json();
}

async function controlFlow(body) {
  const name = body.provider;
  if (!PROVIDERS.includes(name)) throw new FlowError(400, { error: 'provider must be google or kakao' });
  if (typeof body.login !== 'string' || body.login === '') throw new FlowError(400, { error: 'login must be a non-empty string' });
  const clientId = body.client_id ?? DEFAULT_CLIENT[name];
  const client = CLIENTS[name].find((c) => c.client_id === clientId);
  const redirectUri = body.redirect_uri ?? DEFAULT_REDIRECT_URI;
  const metadata = await discovery(name);

  const authorize = new URL(metadata.authorization_endpoint);
  const query = {
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: body.scope ?? 'openid email profile',
    state: body.state,
    nonce: body.nonce,
    code_challenge: body.code_challenge,
    code_challenge_method: body.code_challenge ? (body.code_challenge_method ?? 'S256') : undefined,
    prompt: body.prompt,
  };
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) authorize.searchParams.set(key, String(value));
  }

  const jar = new CookieJar();
  const target = new URL(redirectUri);
  let response = await selfFetch(authorize, jar);
  let url = authorize;
  for (let step = 0; step < 20; step += 1) {
    if (response.status >= 300 && response.status < 400) {
      const location = new URL(response.headers.get('location'), url);
      if (location.origin === target.origin && location.pathname === target.pathname) {
        const got = Object.fromEntries(location.searchParams);
        if (got.error) throw new FlowError(400, { error: got.error, error_description: got.error_description });
        if (!got.code) throw new FlowError(502, { error: 'flow_failed', error_description: 'redirected without a code' });
        return { code: got.code, state: got.state ?? null, client, redirectUri, metadata };
      }
      if (location.origin !== ORIGIN) {
        throw new FlowError(502, { error: 'flow_failed', error_description: 'redirected away from the provider' });
      }
      url = location;
      response = await selfFetch(url, jar);
      continue;
    }
    const html = await response.text();
    const form = response.status === 200 ? parseForm(html) : undefined;
    if (!form && response.status >= 400 && response.status < 500) {
      // The provider's error page (e.g. an unregistered redirect_uri is never redirected to).
      const field = (key) => {
        const found = new RegExp(`<strong>${key}</strong>:\\s*([^<]*)</pre>`).exec(html)?.[1];
        return found === undefined ? undefined : unescapeHtml(found.trim());
      };
      throw new FlowError(400, {
        error: field('error') ?? 'flow_failed',
        error_description: field('error_description') ?? `the provider answered ${response.status} at ${url.pathname}`,
      });
    }
    if (!form) {
      throw new FlowError(502, {
        error: 'flow_failed',
        error_description: `the provider answered ${response.status} at ${url.pathname} with no form to submit`,
      });
    }
    if (form.hasLogin) {
      form.fields.set('login', body.login);
      form.fields.set('password', body.password ?? 'any-password');
    }
    url = new URL(form.action, url);
    response = await selfFetch(url, jar, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.fields.toString(),
    });
  }
  throw new FlowError(502, { error: 'flow_failed', error_description: 'too many steps' });
}

async function exchange(flow, codeVerifier) {
  if (!flow.client) throw new FlowError(400, { error: 'exchange needs a client of this provider (its secret)' });
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code: flow.code,
    redirect_uri: flow.redirectUri,
    client_id: flow.client.client_id,
    client_secret: flow.client.client_secret,
  });
  if (codeVerifier) form.set('code_verifier', codeVerifier);
  const response = await selfFetch(flow.metadata.token_endpoint, undefined, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const tokens = await response.json();
  if (!response.ok) throw new FlowError(400, { error: tokens.error, error_description: tokens.error_description });
  return tokens;
}

async function control(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /control/health') return sendJson(res, 200, { ok: true });
  if (req.method !== 'POST') return sendJson(res, 404, { error: 'no such control route' });
  const body = await readJson(req);

  if (url.pathname === '/control/flow') {
    try {
      const flow = await controlFlow(body);
      const answer = { code: flow.code, state: flow.state };
      if (body.exchange) {
        const tokens = await exchange(flow, body.code_verifier);
        Object.assign(answer, { id_token: tokens.id_token, access_token: tokens.access_token });
        if (tokens.refresh_token) answer.refresh_token = tokens.refresh_token;
      }
      return sendJson(res, 200, answer);
    } catch (error) {
      if (error instanceof FlowError) return sendJson(res, error.status, error.body);
      throw error;
    }
  }

  if (url.pathname === '/control/naver-code') {
    if (typeof body.login !== 'string' || body.login === '') return sendJson(res, 400, { error: 'login must be a non-empty string' });
    const code = opaque(12);
    const state = typeof body.state === 'string' ? body.state : opaque(12);
    naver.codes.set(code, { login: body.login, state, expiresAt: Date.now() + NAVER_CODE_SECONDS * 1000 });
    return sendJson(res, 200, { code, state });
  }

  if (url.pathname === '/control/rotate') {
    if (!PROVIDERS.includes(body.provider)) return sendJson(res, 400, { error: 'provider must be google or kakao' });
    // The new key signs and is published first; the previous signing key stays published (for
    // the ID tokens it signed), older ones go.
    const key = newSigningKey();
    rebuild(body.provider, [key, oidc[body.provider].keys[0]]);
    return sendJson(res, 200, { kid: key.kid });
  }

  if (url.pathname === '/control/outage') {
    const targets = body.provider === 'all' ? OUTAGE_TARGETS : [body.provider];
    if (!targets.every((t) => OUTAGE_TARGETS.includes(t))) {
      return sendJson(res, 400, { error: 'provider must be google, kakao, naver or all' });
    }
    if (!['down', 'slow', 'off'].includes(body.mode)) return sendJson(res, 400, { error: 'mode must be down, slow or off' });
    const seconds = body.seconds ?? SLOW_SECONDS;
    if (typeof seconds !== 'number' || !(seconds >= 0 && seconds <= 600)) {
      return sendJson(res, 400, { error: 'seconds must be a number from 0 to 600' });
    }
    for (const t of targets) outage[t] = { mode: body.mode, seconds };
    return sendJson(res, 200, { outage: Object.fromEntries(OUTAGE_TARGETS.map((t) => [t, outage[t].mode])) });
  }

  return sendJson(res, 404, { error: 'no such control route' });
}

// ---------------------------------------------------------------------------------------------
// Outages: per provider, all of its paths (issuer and API fakes).

const OUTAGE_TARGETS = ['google', 'kakao', 'naver'];
const SLOW_SECONDS = 20;
const outage = Object.fromEntries(OUTAGE_TARGETS.map((t) => [t, { mode: 'off', seconds: SLOW_SECONDS }]));
const slowTimers = new Set();

function providerOfPath(pathname) {
  const first = pathname.split('/')[1] ?? '';
  if (first === 'google' || first === 'google-api') return 'google';
  if (first === 'kakao' || first === 'kakao-api') return 'kakao';
  if (first === 'naver') return 'naver';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Routing

async function route(req, res, url) {
  const path = url.pathname;
  if (path.startsWith('/control/')) return control(req, res, url);
  const name = providerOfPath(path);
  if (name === 'google' || name === 'kakao') {
    if (path === `/${name}` || path.startsWith(`/${name}/`)) return mount(name, req, res);
  }
  const method = req.method;
  if (path === '/kakao-api/v2/user/me' && (method === 'GET' || method === 'POST')) return kakaoUserMe(req, res);
  if (path === '/kakao-api/v1/user/access_token_info' && method === 'GET') return kakaoAccessTokenInfo(req, res);
  if (path === '/google-api/tokeninfo' && (method === 'GET' || method === 'POST')) return googleTokenInfo(req, res, url);
  if (path === '/naver/oauth2.0/token' && (method === 'GET' || method === 'POST')) return naverToken(req, res, url);
  if (path === '/naver/v1/nid/me' && method === 'GET') return naverMe(req, res);
  return sendJson(res, 404, { error: 'not_found' });
}

// The path as logged: no query string, and no interaction or resume uid.
function loggedPath(pathname) {
  return pathname.replace(/\/(interaction|auth)\/[^/]+/, '/$1/:uid');
}

function log(method, pathname, outcome, started) {
  const ms = Math.round(performance.now() - started);
  process.stdout.write(`${new Date().toISOString()} ${method} ${loggedPath(pathname)} ${outcome} ${ms}ms\n`);
}

const server = createServer((req, res) => {
  const started = performance.now();
  let url;
  try {
    url = new URL(req.url, ORIGIN);
  } catch {
    res.writeHead(400).end();
    return;
  }
  const method = req.method;
  res.on('finish', () => log(method, url.pathname, res.statusCode, started));

  const run = () => {
    route(req, res, url).catch((error) => {
      process.stderr.write(`${method} ${loggedPath(url.pathname)}: ${error?.stack ?? error}\n`);
      if (!res.headersSent) sendJson(res, error?.status ?? 500, { error: error?.status ? error.message : 'server_error' });
      else res.destroy();
    });
  };

  const name = providerOfPath(url.pathname);
  const state = name && req.headers['x-oidc-control'] !== CONTROL_BYPASS ? outage[name] : undefined;
  if (state?.mode === 'down') {
    log(method, url.pathname, 'dropped (outage down)', started);
    req.socket.destroy();
    return;
  }
  if (state?.mode === 'slow') {
    const timer = setTimeout(() => {
      slowTimers.delete(timer);
      run();
    }, state.seconds * 1000);
    slowTimers.add(timer);
    return;
  }
  run();
});

server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`oidc test provider listening on ${ORIGIN}: issuers ${ORIGIN}/google and ${ORIGIN}/kakao; `
    + `redirect URIs ${REDIRECT_URIS.join(' ')}\n`);
});
server.on('error', (error) => {
  process.stderr.write(`cannot listen on 127.0.0.1:${PORT}: ${error.message}\n`);
  process.exit(1);
});

function shutdown(signal) {
  process.stdout.write(`${signal}: stopping\n`);
  for (const timer of slowTimers) clearTimeout(timer);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
