"""Schemathesis hooks for `make test` and `make fuzz-api` (loaded through SCHEMATHESIS_HOOKS).

Credentials (`AccountCredentials`, schemathesis' own `@schemathesis.auth()` mechanism)
-------------------------------------------------------------------------------------
Generated requests to protected operations carry live credentials, so that their success paths
and their validation are fuzzed, not only their 401s. openapi.yaml says what each operation needs;
nothing here names a route:

* `security` naming an HTTP bearer scheme (`security: [{bearerAuth: []}]`): the request gets
  `Authorization: Bearer <access token>`. Cases in which schemathesis itself drops or garbles that
  header (its negative auth tests) are left as they are: schemathesis does not call us for them.
  A case that already carries a bearer JWT got it from an OpenAPI link (the stateful phase): it
  keeps it, so a chain like join -> mypage runs with the token join answered.
* `x-fresh-user: true`: the credentials come from a user registered (joined) for this one case.
  Every operation that changes or destroys credentials must say so: password change (it changes
  the password and ends every other session), and deleting the account or revoking other
  sessions. Without it they would run on the shared user below and ruin it for the cases after.
  To chain such an operation in the stateful phase, link it from join's answer: a linked token
  is used as it is, so the chain works on the user it registered itself.
* `x-staff: true`: the bearer is the staff user: a superuser made once, on first use, the way an
  operator makes one (`account-admin create-superuser`, password on standard input, against the
  stack's table: `TABLE_NAME` and the DynamoDB endpoint of the environment `make test` runs this
  in), then logged in. Admin operations say so; a non-staff bearer would only ever get 403. The
  user they act on is the `victim` kind below: pks are small counters, so a generated one could
  name this user or the others below, and a deletion or a deactivation would end them.
* `x-credentials`: request fields that carry credentials, filled in *positive* cases only
  (negative ones are meant to be refused for their data): `body: {field: kind}` when the generated
  body has the field or the schema requires it, `cookie: {name: kind}` and `path: {parameter:
  kind}` always. Kinds: `email`, `password` (the case's user's), `access`, `refresh` (a refresh
  token of a session started by a login for this case alone), `token` (an access or a refresh
  token of the shared session, alternately: for read-only uses such as token verify), `session`
  (the id of the session the case's access token belongs to, its `sid` claim: ending one's own
  session is the success path of `DELETE /account/sessions/{id}/`, which a generated id never
  reaches), `victim` (the pk of a user joined for this case alone: what an admin operation may
  change, sign out, mail or delete; filled in every positive case, never left generated, since
  a generated pk may be a shared user's). One positive case in four
  keeps its generated values instead (chosen by a checksum of its body, so a seed repeats), so
  that refused credentials are fuzzed too.

Whose credentials, and why they stay valid for the whole run:

* The bearer user: joined once, on first use. Its access token goes only to operations declared
  without `x-fresh-user`, which by the rule above cannot end its session, and to token verify,
  which writes nothing; its refresh token is never spent (verify only reads it), and its
  password never leaves this file. The session is renewed by a login after 50 minutes (access
  tokens live an hour) and, should a positive request with it ever be refused with 401,
  before the next case.
* The login user: another account, whose email and password fill login bodies and whose fresh
  logins give refresh and logout their refresh tokens. Rotation spends a refresh token, and a
  spent one presented again is taken as theft and revokes its session: so every case gets a
  token of its own session, never one another case may spend (one Argon2 verification per
  case, about as dear as a join). Its sessions can be ended by what the stateful phase chains
  after a login (logout, a reused token): those end only themselves. Should its password stop
  working anyway (a route to come, linked after login, could change or delete it), the next
  case that needs it registers a new login user.
* Throttle: wrong passwords lock an email after 5 (429). Login cases that keep their generated
  credentials use generated emails, never one of these users'; a wrong `old_password` (the one
  positive case in four, or any negative case) meets a fresh user, at most once per user. 429
  stays a documented answer of both routes all the same.
* Password change succeeds and changes the password: it only ever runs on fresh users, so no
  password needs tracking.

Request data (`map_case`, `before_call`)
----------------------------------------
Rules across fields that JSON Schema cannot state: in positive cases, `password2` and
`new_password2` take the value of `password1` and `new_password1` (three cases in four, by the
same checksum: the fourth fuzzes the mismatch), and join's email gets a prefix unique to the
run, as schemathesis itself advises for unique fields. Otherwise nearly every generated join
would be refused because its passwords differ, or because an earlier case took its email (the
coverage phase sends the same minimal one again and again).

Bodies (`filter_body`)
----------------------
cargo lambda's emulator cannot put a request body that is not UTF-8 text into an API Gateway
event: it answers its own 500 before any function runs. API Gateway base64-encodes such bodies
instead, and the handler tests cover that path (`events`-shaped requests with
`isBase64Encoded`). Generated bodies are therefore kept to valid UTF-8 here.
"""

import atexit
import base64
import itertools
import json
import os
import pathlib
import re
import secrets
import subprocess
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
import schemathesis
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode

# A bearer token of ours (the header the stateful phase copies from an earlier answer).
LINKED_BEARER = re.compile(r"Bearer eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Renew the bearer user's session well before its access token expires (3600 s by default).
SESSION_RENEWAL_SECONDS = 50 * 60
TIMEOUT_SECONDS = 30


def _is_text(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


@schemathesis.hook
def filter_body(context, body):
    return _is_text(body)


def _is_positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _checksum(case):
    """A checksum of what was generated for `case`: the same cases get the same choices."""
    # Path parameters too: a case without a body (DELETE) would otherwise always get one checksum.
    generated = (case.body, case.cookies, case.media_type, case.path_parameters, case.query)
    return zlib.crc32(repr(generated).encode("utf-8", "surrogatepass"))


def _keeps_generated(case):
    """One positive case in four keeps its generated values."""
    return _checksum(case) % 4 == 0


# --- the users this file registers -------------------------------------------------------------


@dataclass
class Account:
    email: str
    password: str
    access: str = ""
    refresh: str = ""
    logged_in_at: float = 0.0


@dataclass
class Counters:
    joins: int = 0
    logins: int = 0
    renewals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name):
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


COUNTERS = Counters()
_serial = itertools.count(1)


@atexit.register
def _report_counters():
    # Read by tools/schemathesis_summary.py from the run's output.
    print(f"credentials hook: {COUNTERS.joins} users joined, {COUNTERS.logins} logins, {COUNTERS.renewals} renewals")


def _new_identity():
    # Hex in the email, letters outside a-f in the password: never "too similar" to each other.
    tag = secrets.token_hex(8)
    letters = "".join(secrets.choice("GHJKLMNPQRSTVWXYZ") for _ in range(14))
    return f"fz{next(_serial)}x{tag}@example.com", f"Pw{letters}!7"


class Api:
    """The few calls the hook makes itself, outside the generated cases."""

    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def _post(self, path, body):
        response = self.http.post(f"{self.base_url}{path}", json=body, timeout=TIMEOUT_SECONDS)
        return response.status_code, response.json() if response.content else {}

    def _joined(self):
        """A user joined for the hook: (email, password, join's answer)."""
        email, password = _new_identity()
        status, body = self._post(
            "/account/join/", {"email": email, "password1": password, "password2": password}
        )
        if status != 201:
            raise RuntimeError(f"the hook's own join answered {status}: {body}")
        COUNTERS.add("joins")
        return email, password, body

    def join(self):
        email, password, body = self._joined()
        return Account(email, password, body["access"], body["refresh"], time.monotonic())

    def join_for_pk(self):
        """The pk of a user joined for one case alone (what an admin operation acts on)."""
        return self._joined()[2]["user"]["pk"]

    def superuser(self):
        """A new superuser, made by the operator CLI, and a session of theirs."""
        email, password = _new_identity()
        admin = os.environ.get("ACCOUNT_ADMIN") or str(
            pathlib.Path(__file__).resolve().parent.parent / "target" / "debug" / "account-admin"
        )
        made = subprocess.run(
            [admin, "create-superuser", email], input=password + "\n", capture_output=True, text=True, timeout=60
        )
        if made.returncode != 0:
            raise RuntimeError(f"account-admin create-superuser failed: {made.stderr.strip()}")
        account = Account(email, password)
        tokens = self.login(account)
        if tokens is None:
            raise RuntimeError("a superuser made a moment ago could not log in")
        return Account(email, password, *tokens, time.monotonic())

    def login(self, account):
        """A new session of `account`: (access, refresh), or None if its password is refused."""
        status, body = self._post("/account/login/", {"email": account.email, "password": account.password})
        if status == 400:
            return None
        if status != 200:
            raise RuntimeError(f"the hook's own login answered {status}: {body}")
        COUNTERS.add("logins")
        return body["access"], body["refresh"]


# --- the auth provider -------------------------------------------------------------------------


@dataclass
class Credentials:
    """What one case gets: the user whose credentials fill it, and the values by kind."""

    account: Account | None
    shared: bool
    values: dict


# Cases that went out with the bearer user's access token, by id: a 401 to a positive one means
# the session died (it should not), and the next case renews it.
_SHARED_BEARER_CASES = {}


class Users:
    """The bearer user and the login user, made on first use and renewed when needed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.api = None
        self.bearer = None
        self.login = None
        self.staff = None

    def connect(self, base_url):
        with self.lock:
            if self.api is None or self.api.base_url != base_url.rstrip("/"):
                self.api = Api(base_url)
                self.bearer = self.login = self.staff = None
            return self.api

    def bearer_account(self):
        with self.lock:
            account = self.bearer
            if account is None:
                account = self.bearer = self.api.join()
            elif time.monotonic() - account.logged_in_at > SESSION_RENEWAL_SECONDS:
                tokens = self.api.login(account)
                account = self.bearer = (
                    self.api.join()
                    if tokens is None
                    else Account(account.email, account.password, *tokens, time.monotonic())
                )
                COUNTERS.add("renewals")
            return account

    def staff_account(self):
        with self.lock:
            account = self.staff
            if account is None or time.monotonic() - account.logged_in_at > SESSION_RENEWAL_SECONDS:
                account = self.staff = self.api.superuser()
                COUNTERS.add("joins")
            return account

    def forget_bearer(self, access):
        with self.lock:
            if self.bearer is not None and self.bearer.access == access:
                self.bearer = None
                COUNTERS.add("renewals")
            if self.staff is not None and self.staff.access == access:
                self.staff = None
                COUNTERS.add("renewals")

    def login_account(self):
        with self.lock:
            if self.login is None:
                self.login = self.api.join()
            return self.login

    def fresh_session_of_login_user(self):
        """(account, access, refresh) of a new session; a new login user if the old one is gone."""
        account = self.login_account()
        tokens = self.api.login(account)
        if tokens is None:
            with self.lock:
                if self.login is account:
                    self.login = self.api.join()
                    COUNTERS.add("renewals")
            account = self.login_account()
            tokens = self.api.login(account)
            if tokens is None:
                raise RuntimeError("a login user registered a moment ago could not log in")
        return account, *tokens


USERS = Users()


def _requires_bearer(operation):
    raw = operation.definition.raw
    document = operation.schema.raw_schema
    requirements = raw.get("security", document.get("security", []))
    schemes = document.get("components", {}).get("securitySchemes", {})
    return any(
        schemes.get(name, {}).get("type") == "http" and schemes[name].get("scheme", "").lower() == "bearer"
        for requirement in requirements
        for name in requirement
    )


def _pointer(document, reference):
    node = document
    for part in reference[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _required_body_fields(case):
    """The fields the schema of this case's body (for its media type) requires."""
    content = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    schema = content.get(case.media_type, {}).get("schema", {}) if case.media_type else {}
    while isinstance(schema, Mapping) and str(schema.get("$ref", "")).startswith("#/"):
        schema = _pointer(case.operation.schema.raw_schema, schema["$ref"])
    return set(schema.get("required", [])) if isinstance(schema, Mapping) else set()


def _body_fields_to_fill(case, wanted):
    """The credential fields of `wanted` (field -> kind) this positive case's body gets."""
    if not isinstance(case.body, dict) or _keeps_generated(case):
        return {}
    required = _required_body_fields(case)
    return {name: kind for name, kind in wanted.items() if name in case.body or name in required}


@schemathesis.auth(refresh_interval=None)
class AccountCredentials:
    def get(self, case, context):
        operation = context.operation
        raw = operation.definition.raw
        bearer = _requires_bearer(operation)
        declared = raw.get("x-credentials") or {}
        fresh = bool(raw.get("x-fresh-user"))
        staff = bool(raw.get("x-staff"))
        positive = _is_positive(case)
        body_fields = _body_fields_to_fill(case, declared.get("body", {})) if positive else {}
        cookies = dict(declared.get("cookie", {})) if positive and not _keeps_generated(case) else {}
        path = dict(declared.get("path", {})) if positive and not _keeps_generated(case) else {}
        # A pk that names someone (an integer, generated or carried by a link from an earlier
        # answer, such as the bearer user's own) is always replaced by a victim's: an admin
        # operation must never end a user the other cases rely on. Malformed pks stay (400).
        for name, kind in declared.get("path", {}).items():
            if kind == "victim" and str((case.path_parameters or {}).get(name, "")).lstrip("-").isdigit():
                path[name] = kind
        linked = LINKED_BEARER.fullmatch(str(case.headers.get("Authorization", "")))
        kinds = set(body_fields.values()) | set(cookies.values()) | set(path.values())
        if bearer and linked:
            # A token an OpenAPI link carried over from an earlier answer: the case belongs to that
            # user (the link fills any other credential), and its token counts as explicitly set
            # credentials (schemathesis' `ignored_auth` check then probes without them).
            return Credentials(
                account=None, shared=False, values={"bearer": linked[0][7:], "body": {}, "cookie": {}, "path": {}}
            )
        if bearer and not linked:
            kinds.add("access")
        if not kinds:
            return None

        api = USERS.connect(operation.schema.get_base_url())
        values = {}
        if staff:
            account = USERS.staff_account()
            values.update(access=account.access)
            shared = True
        elif fresh:
            account = api.join()
            values.update(access=account.access, refresh=account.refresh)
            shared = False
        elif kinds & {"email", "password", "refresh"}:
            # Login's body, or a refresh token to spend: the login user, a session of its own.
            if "refresh" in kinds:
                account, _, refresh = USERS.fresh_session_of_login_user()
                values.update(refresh=refresh)
            else:
                account = USERS.login_account()
            shared = False
            if "access" in kinds:
                bearer_account = USERS.bearer_account()
                values["access"] = bearer_account.access
        else:
            account = USERS.bearer_account()
            values.update(access=account.access)
            shared = True
        values.update(email=account.email, password=account.password)
        if "victim" in kinds:
            values["victim"] = api.join_for_pk()
        if "session" in kinds:
            values["session"] = _session_id(values.get("access", ""))
        if "token" in kinds:
            shared_account = USERS.bearer_account()
            values["token"] = shared_account.refresh if _checksum(case) % 8 >= 4 else shared_account.access
        return Credentials(
            account=account,
            shared=shared,
            values={
                "bearer": values.get("access") if bearer and not linked else None,
                "body": {name: values[kind] for name, kind in body_fields.items()},
                "cookie": {name: values[kind] for name, kind in cookies.items()},
                "path": {name: values[kind] for name, kind in path.items()},
            },
        )

    def set(self, case, data, context):
        # New containers, never edits in place: cases of one phase may share them.
        if data.values["bearer"] is not None:
            headers = CaseInsensitiveDict(case.headers or {})
            headers["Authorization"] = f"Bearer {data.values['bearer']}"
            case.headers = headers
            if data.shared:
                _SHARED_BEARER_CASES[case.id] = data.values["bearer"]
        if data.values["body"]:
            case.body = {**case.body, **data.values["body"]}
        if data.values["cookie"]:
            case.cookies = {**(case.cookies or {}), **data.values["cookie"]}
        if data.values["path"]:
            case.path_parameters = {**(case.path_parameters or {}), **data.values["path"]}


def _session_id(access):
    """The `sid` claim of one of our access tokens (read, not verified: the hook minted nothing)."""
    payload = access.split(".")[1] if access.count(".") == 2 else ""
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) or b"{}")
    return claims.get("sid", "")


@schemathesis.hook
def after_call(context, case, response):
    access = _SHARED_BEARER_CASES.pop(case.id, None)
    if access is not None and response.status_code == 401 and _is_positive(case):
        USERS.forget_bearer(access)


# --- rules across fields -----------------------------------------------------------------------

# Field pairs that must be equal (a rule JSON Schema cannot state).
PASSWORD_PAIRS = (("password1", "password2"), ("new_password1", "new_password2"))


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if isinstance(body, dict) and _is_positive(case) and not _keeps_generated(case):
        for first, second in PASSWORD_PAIRS:
            if isinstance(body.get(first), str) and isinstance(body.get(second), str):
                case.body = body = {**body, second: body[first]}
    return case


_unique = itertools.count(1)
# Unique to this run, so that runs against one stack (`make dev`) do not collide either.
_RUN = secrets.token_hex(3)


@schemathesis.hook("before_call").apply_to(method="POST", path_regex=r"^/account/join/?$")
def make_join_emails_unique(context, case, kwargs):
    body = case.body
    if not (isinstance(body, dict) and isinstance(body.get("email"), str) and _is_positive(case)):
        return
    local, at, domain = body["email"].rpartition("@")
    prefix = f"u{next(_unique)}{_RUN}-"
    # A local part holds at most 64 characters.
    if at and len(prefix) + len(local) <= 64:
        case.body = {**body, "email": f"{prefix}{local}{at}{domain}"}
