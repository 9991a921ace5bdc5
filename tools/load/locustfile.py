"""The mixed workload of `make load` (locust): people joining, logging in (some with a wrong
password, some at an address nobody has), browsers with several tabs refreshing one session at
once and retrying, reading their pages, logging out, changing passwords, ending sessions and
deleting accounts while their other tabs keep refreshing, and asking for password resets.

Every request is written to LOAD_REQUEST_LOG (JSON lines: start, milliseconds, route, status,
Retry-After, whether the body was the contract's JSON), and every act the checks must find in
the table afterwards to LOAD_OPS_LOG (a join's user, a password change's time and session, a
deletion, an ended session, a stolen token presented again). tools/load/check_load.py reads both.

A client retries a 503 after its Retry-After (at most twice), as the front end does; it never
retries anything else.
"""

import base64
import json
import os
import random
import secrets
import threading
import time

import gevent
from locust import FastHttpUser, between, events, task

RUN = os.environ.get("LOAD_RUN_ID", secrets.token_hex(3))
REQUEST_LOG = open(os.environ.get("LOAD_REQUEST_LOG", "load-requests.jsonl"), "a", buffering=1)
OPS_LOG = open(os.environ.get("LOAD_OPS_LOG", "load-ops.jsonl"), "a", buffering=1)
LOG_LOCK = threading.Lock()
# A few addresses nobody has, tried again and again: their throttle records must stay that few.
UNKNOWN = [f"nobody-{RUN}-{n}@example.com" for n in range(8)]
_counter = iter(range(1, 10**9))


def op(kind, **fields):
    with LOG_LOCK:
        OPS_LOG.write(json.dumps({"op": kind, "t": time.time(), **fields}) + "\n")


@events.request.add_listener
def log_request(request_type, name, response_time, response, exception, start_time=None, **_):
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) or {}
    body = getattr(response, "text", "") or ""
    json_ok = True
    if status not in (0, 204):
        try:
            json.loads(body)
        except ValueError:
            json_ok = False
    entry = {
        "t": start_time or (time.time() - response_time / 1000),
        "ms": round(response_time, 1),
        "route": f"{request_type} {name}",
        "status": status,
        "retry_after": headers.get("Retry-After") if headers else None,
        "json": json_ok,
    }
    if exception is not None and not status:
        entry["error"] = type(exception).__name__
    with LOG_LOCK:
        REQUEST_LOG.write(json.dumps(entry) + "\n")


def sid_of(access):
    """The session id (`sid` claim) of an access token: read, not verified (ours to know)."""
    payload = access.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


class Person(FastHttpUser):
    """One person: an account and the sessions (tabs) their browsers hold."""

    wait_time = between(0.3, 1.5)

    def on_start(self):
        self.join()

    # ---- requests -------------------------------------------------------------------------

    def call(self, method, path, name, body=None, access=None):
        """One request, retried after a 503's Retry-After (twice at most): (status, JSON)."""
        headers = {"User-Agent": "make-load"}
        if access:
            headers["Authorization"] = f"Bearer {access}"
        for attempt in range(3):
            with self.client.request(method, path, name=name, json=body, headers=headers, catch_response=True) as answer:
                status = answer.status_code
                # Only a server error is a failure in locust's own table; the checks judge the rest.
                if status >= 500 or status == 0:
                    answer.failure(f"{status}")
                else:
                    answer.success()
                try:
                    data = answer.json() if answer.text else None
                except ValueError:
                    data = None
                retry_after = answer.headers.get("Retry-After") if answer.headers else None
            if status != 503 or attempt == 2:
                return status, data
            self.mark_uncertain()
            gevent.sleep(min(float(retry_after or 1), 2.0))
        return status, data

    # ---- the account's lifetime -----------------------------------------------------------

    def join(self):
        self.email = f"load-{RUN}-{next(_counter)}-{secrets.token_hex(2)}@example.com"
        self.password = f"Ld-{secrets.token_urlsafe(9)}-7q"
        self.sessions = []  # [{"sid", "access", "refresh"}]
        # Set when an act that changes sessions got no answer: what this client believes live
        # may not be.
        self.uncertain = False
        status, data = self.call(
            "POST", "/account/join/", "/account/join/",
            {"email": self.email, "password1": self.password, "password2": self.password},
        )
        if status == 201 and data:
            self.pk = data["user"]["pk"]
            op("join", email=self.email, pk=self.pk)
            self.keep(data)
        else:
            self.pk = None
            op("join_failed", email=self.email, status=status)

    def mark_uncertain(self):
        """An answer was a 503: what this client believes may be out of date (an act may have
        landed with its answer lost), so a refusal of a session it holds is no longer a defect."""
        if not self.uncertain and getattr(self, "pk", None) is not None:
            op("uncertain", pk=self.pk)
        self.uncertain = True

    def keep(self, data):
        self.sessions.append({"sid": sid_of(data["access"]), "access": data["access"], "refresh": data["refresh"]})

    def session(self):
        return random.choice(self.sessions) if self.sessions else None

    def drop(self, session):
        if session in self.sessions:
            self.sessions.remove(session)

    def unexpected(self, what, status, session):
        """A session this client holds live was refused: a defect, unless an act without an
        answer may have ended it."""
        if not self.uncertain:
            op("unexpected", what=what, status=status, pk=self.pk, sid=session["sid"])
        self.drop(session)

    # ---- the mix --------------------------------------------------------------------------

    @task(6)
    def read_pages(self):
        session = self.session()
        if not session:
            return self.login()
        for path in ("/account/mypage/", "/account/user/"):
            status, _ = self.call("GET", path, path, access=session["access"])
            if status == 401:
                return self.unexpected(path, status, session)

    @task(4)
    def refresh_in_several_tabs(self):
        """Three tabs refresh one session at once: all get the family's one new token."""
        session = self.session()
        if not session:
            return self.login()
        answers = []

        def tab():
            answers.append(self.call("POST", "/account/token/refresh/", "/account/token/refresh/", {"refresh": session["refresh"]}))

        gevent.joinall([gevent.spawn(tab) for _ in range(3)])
        refreshed = [data for status, data in answers if status == 200 and data]
        if refreshed:
            tokens = {data["refresh"] for data in refreshed}
            if len(tokens) > 1:
                op("fork", pk=self.pk, sid=session["sid"], tokens=len(tokens))
            session["refresh"] = refreshed[0]["refresh"]
            session["access"] = refreshed[0]["access"]
        elif any(status == 401 for status, _ in answers):
            self.unexpected("refresh", 401, session)

    @task(3)
    def login(self):
        if self.pk is None:
            return self.join()
        status, data = self.call("POST", "/account/login/", "/account/login/", {"email": self.email, "password": self.password})
        if status == 200 and data:
            self.keep(data)

    @task(1)
    def login_wrong_password(self):
        if random.random() < 0.3 and self.pk is not None:
            self.call("POST", "/account/login/", "/account/login/", {"email": self.email, "password": "Wrong-Guess!4402"})
        else:
            self.call("POST", "/account/login/", "/account/login/", {"email": random.choice(UNKNOWN), "password": "Wrong-Guess!4402"})

    @task(1)
    def logout(self):
        session = self.session()
        if not session or len(self.sessions) < 2:
            return
        status, _ = self.call("POST", "/account/logout/", "/account/logout/", {"refresh": session["refresh"]})
        if status == 200:
            op("session_ended", pk=self.pk, sid=session["sid"], how="logout")
            self.drop(session)

    @task(1)
    def end_a_session_while_it_refreshes(self):
        """One tab ends another's session while that one refreshes."""
        if len(self.sessions) < 2:
            return self.login()
        caller, victim = random.sample(self.sessions, 2)
        results = {}

        def end():
            results["end"] = self.call("DELETE", f"/account/sessions/{victim['sid']}/", "/account/sessions/{id}/", access=caller["access"])

        def refresh():
            results["refresh"] = self.call("POST", "/account/token/refresh/", "/account/token/refresh/", {"refresh": victim["refresh"]})

        gevent.joinall([gevent.spawn(end), gevent.spawn(refresh)])
        if results["end"][0] == 204:
            op("session_ended", pk=self.pk, sid=victim["sid"], how="sessions/{id}")
            self.drop(victim)
        elif results["end"][0] == 401:
            self.unexpected("sessions/{id}", 401, caller)

    @task(1)
    def steal_and_replay(self):
        """A refresh token spent two rotations ago is presented again: its session must die."""
        session = self.session()
        if not session:
            return
        stolen = session["refresh"]
        for _ in range(2):
            status, data = self.call("POST", "/account/token/refresh/", "/account/token/refresh/", {"refresh": session["refresh"]})
            if status != 200 or not data:
                return
            session["refresh"], session["access"] = data["refresh"], data["access"]
        # Spent twice over: outside the reuse interval's grace whatever the clock says.
        status, _ = self.call("POST", "/account/token/refresh/", "/account/token/refresh/", {"refresh": stolen})
        op("replayed", pk=self.pk, sid=session["sid"], status=status)
        if status == 401:
            self.drop(session)

    @task(1)
    def change_password_while_tabs_refresh(self):
        if len(self.sessions) < 2:
            return self.login()
        caller = random.choice(self.sessions)
        others = [s for s in self.sessions if s is not caller]
        new_password = f"Ld-{secrets.token_urlsafe(9)}-8r"
        results = {}
        started = time.time()

        def change():
            results["change"] = self.call(
                "POST", "/account/password/change/", "/account/password/change/",
                {"old_password": self.password, "new_password1": new_password, "new_password2": new_password},
                access=caller["access"],
            )

        def refresh(other):
            self.call("POST", "/account/token/refresh/", "/account/token/refresh/", {"refresh": other["refresh"]})

        gevent.joinall([gevent.spawn(change)] + [gevent.spawn(refresh, s) for s in others[:2]])
        status = results["change"][0]
        if status == 200:
            op("password_changed", pk=self.pk, sid=caller["sid"], started=started)
            self.password = new_password
            self.sessions = [caller]
        elif status == 503:
            # It may have landed: either password may be the one now.
            self.mark_uncertain()

    @task(1)
    def revoke_others(self):
        session = self.session()
        if not session or len(self.sessions) < 2:
            return
        started = time.time()
        status, _ = self.call("POST", "/account/sessions/revoke-others/", "/account/sessions/revoke-others/", access=session["access"])
        if status == 200:
            op("others_revoked", pk=self.pk, sid=session["sid"], started=started)
            self.sessions = [session]

    @task(1)
    def list_sessions(self):
        session = self.session()
        if session:
            self.call("GET", "/account/sessions/", "/account/sessions/", access=session["access"])

    @task(1)
    def ask_for_a_reset(self):
        if self.pk is not None:
            self.call("POST", "/account/password/reset/", "/account/password/reset/", {"email": self.email})

    @task(1)
    def delete_account_while_tabs_refresh(self):
        if random.random() > 0.3 or not self.sessions or self.pk is None:
            return
        caller = random.choice(self.sessions)
        results = {}

        def delete():
            results["delete"] = self.call("POST", "/account/user/delete/", "/account/user/delete/", {"password": self.password}, access=caller["access"])

        def refresh(other):
            self.call("POST", "/account/token/refresh/", "/account/token/refresh/", {"refresh": other["refresh"]})

        others = [s for s in self.sessions if s is not caller][:2]
        gevent.joinall([gevent.spawn(delete)] + [gevent.spawn(refresh, s) for s in others])
        status = results["delete"][0]
        op("deleted" if status == 204 else "delete_answered", pk=self.pk, email=self.email, status=status)
        if status in (204, 503):
            # Gone (or maybe gone): a new person takes this one's place.
            self.join()
