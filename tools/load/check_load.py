"""The invariants of `make load`, checked after the run from the table itself (one Scan of the
local server, straight, not through the fault proxy) and from the run's request and act logs,
and the run's figures as a Markdown table.

Any violation fails the run (exit 1) with the item and the requests or acts that produced it.

Usage: python check_load.py RUN_DIR DYNAMODB_URL TABLE TIMEOUT_SECONDS KEY_FILE
       python check_load.py --self-test   (each invariant is shown to fail on a run that breaks it)
  RUN_DIR holds requests.jsonl, ops.jsonl, windows.jsonl and the run's *.log files; the report
  is written to RUN_DIR/report.md.
"""

import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import boto3
from boto3.dynamodb.types import TypeDeserializer

# What each route may answer under this workload (the contract's statuses; 503 only with a
# fault on, checked apart).
ALLOWED = {
    "POST /account/join/": {201, 400, 503},
    "POST /account/login/": {200, 400, 429, 503},
    "POST /account/token/refresh/": {200, 401, 503},
    "GET /account/mypage/": {200, 401, 503},
    "GET /account/user/": {200, 401, 503},
    "POST /account/logout/": {200, 401, 503},
    "DELETE /account/sessions/{id}/": {204, 401, 404, 503},
    "GET /account/sessions/": {200, 401, 503},
    "POST /account/sessions/revoke-others/": {200, 401, 503},
    "POST /account/password/change/": {200, 400, 401, 429, 503},
    "POST /account/password/reset/": {200, 429, 503},
    "POST /account/user/delete/": {204, 400, 401, 429, 503},
}
# A 503 counts as a fault's when the request overlapped a fault window, or began within this
# long of its end (the SDK's operation timeout, 4 s, and a second).
FAULT_MARGIN_SECONDS = 5.0
# Past the function's timeout Lambda would have cut the request off: none may take longer.
DURATION_MARGIN_SECONDS = 1.0
# What user-delete logs when its second step, the sweep of the other sessions, fails.
SWEEP_FAILED = "sessions of the deleted account left to expire"
# The workload's passwords and any JWT: neither may be in a log.
PASSWORD_SHAPE = re.compile(r"Ld-[A-Za-z0-9_-]{12}-(?:7q|8r)")
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def scan(url, table):
    client = boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )
    deserialize = TypeDeserializer().deserialize
    items, start = [], None
    while True:
        page = client.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += [{k: deserialize(v) for k, v in item.items()} for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class Checks:
    def __init__(self):
        self.results = []  # (invariant, violations, detail)

    def check(self, name, violations, detail=""):
        self.results.append((name, violations, detail))

    def failed(self):
        return [r for r in self.results if r[1]]


def main(run_dir, url, table, timeout_seconds, key_file):
    run = Path(run_dir)
    requests = jsonl(run / "requests.jsonl")
    windows = jsonl(run / "windows.jsonl")
    key = Path(key_file).read_text().strip() if key_file and Path(key_file).exists() else None
    logs = {log.name: log.read_text(errors="replace") for log in sorted(run.glob("*.log"))}
    checks = evaluate(scan(url, table), requests, jsonl(run / "ops.jsonl"), windows, logs, key, timeout_seconds, time.time())
    report = figures(requests, windows) + "\n" + verdicts(checks)
    (run / "report.md").write_text(report)
    print(report)
    failed = checks.failed()
    for name, violations, _ in failed:
        print(f"\nVIOLATED: {name}", file=sys.stderr)
        for violation in violations[:20]:
            print(f"  {violation}", file=sys.stderr)
        if len(violations) > 20:
            print(f"  … and {len(violations) - 20} more", file=sys.stderr)
    return 1 if failed else 0


def evaluate(items, requests, ops, windows, logs, key, timeout_seconds, now):
    """Every invariant over the table's items and the run's logs (`logs`: name → text)."""
    checks = Checks()

    users = {int(i["PK"][5:]): i for i in items if i["PK"].startswith("USER#") and i["SK"] == "USER"}
    claims = {i["PK"][6:]: i for i in items if i["PK"].startswith("EMAIL#")}
    sessions = [i for i in items if i["PK"].startswith("USER#") and i["SK"].startswith("SESSION#")]
    throttles = [i for i in items if i["PK"].startswith("THROTTLE#")]
    events = [i for i in items if i["PK"].startswith("EVENTS#")]
    by_op = defaultdict(list)
    for entry in ops:
        by_op[entry["op"]].append(entry)
    deleted = {o["pk"] for o in by_op["deleted"]}
    maybe_deleted = deleted | {o["pk"] for o in by_op["delete_answered"] if o["status"] == 503}
    uncertain = {o["pk"] for o in by_op["uncertain"]}

    def live(session):
        user = users.get(int(session["PK"][5:]))
        return (
            user is not None and user.get("is_active", True) and not session.get("revoked")
            and int(session["epoch"]) == int(user["session_epoch"]) and int(session["expires_at"]) > now
        )

    sessions_by_user = defaultdict(list)
    for s in sessions:
        sessions_by_user[int(s["PK"][5:])].append(s)
    session_by_id = {(int(s["PK"][5:]), s["SK"][8:]): s for s in sessions}

    # 1. Every join that answered 201: one user, one claim (or both gone after its deletion).
    bad = []
    for join in by_op["join"]:
        pk, email = join["pk"], join["email"]
        user, claim = users.get(pk), claims.get(email)
        if pk in deleted:
            if user is not None or (claim is not None and int(claim["user_id"]) == pk):
                bad.append(f"user {pk} ({email}) deleted (204) but its user or claim remains")
        elif pk in maybe_deleted and user is None and claim is None:
            continue
        elif user is None or user.get("email") != email or claim is None or int(claim["user_id"]) != pk:
            bad.append(f"join 201 of {email} as {pk}: user {'present' if user else 'missing'}, claim {claim}")
    checks.check("every join that answered 201 has exactly one user and one e-mail claim", bad,
                 f"{len(by_op['join'])} joins answered 201, {len(deleted)} of them deleted later")

    # 2. One user per e-mail, and claims and users point at each other.
    bad = []
    emails = Counter(u.get("email") for u in users.values())
    bad += [f"{email} has {n} users" for email, n in emails.items() if n > 1]
    for pk, user in users.items():
        claim = claims.get(user.get("email"))
        if claim is None or int(claim["user_id"]) != pk:
            bad.append(f"user {pk} ({user.get('email')}) has no claim of its own: {claim}")
    for email, claim in claims.items():
        user = users.get(int(claim["user_id"]))
        if user is None or user.get("email") != email:
            bad.append(f"claim of {email} points at user {claim['user_id']}, which {'is gone' if user is None else 'has another address'}")
    checks.check("no e-mail has two users; every claim and its user point at each other", bad,
                 f"{len(users)} users, {len(claims)} claims")

    # 3. Sessions whole: each has its fields, and a user unless that user was deleted; and the
    # sessions of deleted users are left only by deletions whose second step (the sweep) failed,
    # as the function logged, or whose answer was a 503 (the sweep may never have run).
    bad, leftovers = [], defaultdict(int)
    for s in sessions:
        missing = [f for f in ("refresh_jti", "epoch", "revoked", "expires_at", "created_at") if f not in s]
        if missing or not s.get("refresh_jti"):
            bad.append(f"session {s['PK']}/{s['SK']} lacks {missing or ['refresh_jti']}")
        pk = int(s["PK"][5:])
        if pk not in users:
            if pk in maybe_deleted:
                leftovers[pk] += 1
            else:
                bad.append(f"session {s['SK']} of user {pk}, who does not exist and was never deleted")
    failed_sweeps = sum(text.count(SWEEP_FAILED) for text in logs.values())
    unanswered = len(maybe_deleted - deleted)
    if len(leftovers) > failed_sweeps + unanswered:
        bad.append(f"{len(leftovers)} deleted users have sessions left ({dict(leftovers)}), but only {failed_sweeps} "
                   f"sweeps failed and {unanswered} deletions went unanswered")
    checks.check("no session is half-created or half-deleted", bad,
                 f"{len(sessions)} session items, {sum(map(live, sessions))} live; {sum(leftovers.values())} dead "
                 f"ones of {len(leftovers)} deleted users, as many as the sweeps that met a fault ({failed_sweeps}; "
                 "TTL removes them)")

    # 4. One live token per family; a family whose spent token was replayed is dead, and no
    # family was taken for stolen that nobody replayed.
    bad = []
    for s in sessions:
        if s.get("previous_jti") and s["previous_jti"] == s.get("refresh_jti"):
            bad.append(f"session {s['SK']}: its spent token is its live one")
    for replay in by_op["replayed"]:
        if replay["status"] == 200:
            bad.append(f"a token spent two rotations ago was accepted: {replay}")
        s = session_by_id.get((replay["pk"], replay["sid"]))
        if replay["status"] == 401 and s is not None and live(s):
            bad.append(f"session {replay['sid']} of user {replay['pk']} lives after its spent token was replayed: {s}")
    reuse = Counter(int(e["PK"][7:]) for e in events if e.get("type") == "token_reuse_detected")
    replays = Counter(r["pk"] for r in by_op["replayed"])
    for pk, n in reuse.items():
        if n > replays[pk] and pk not in uncertain:
            bad.append(f"user {pk}: {n} reuse detections, {replays[pk]} replays, and every answer it saw was whole")
    bad += [f"tabs got different refresh tokens: {f}" for f in by_op["fork"]]
    checks.check("every refresh family has at most one live token; a family marked reused is dead", bad,
                 f"{len(by_op['replayed'])} replays of spent tokens, {sum(reuse.values())} reuse detections, "
                 f"{len(by_op['fork'])} forks")

    # 5. What a password change, revoke-others, a session's end or a deletion ended stays ended.
    bad = []
    for act in by_op["password_changed"] + by_op["others_revoked"]:
        for s in sessions_by_user[act["pk"]]:
            if s["SK"][8:] != act["sid"] and int(s["created_at"]) < math.floor(act["started"]) and live(s):
                bad.append(f"{act['op']} of user {act['pk']} at {act['started']:.3f} left session {s['SK']} live: {s}")
    for act in by_op["session_ended"]:
        s = session_by_id.get((act["pk"], act["sid"]))
        if s is not None and live(s):
            bad.append(f"session {act['sid']} of user {act['pk']} ended ({act['how']}) but live: {s}")
    for pk in deleted:
        bad += [f"user {pk} deleted, session {s['SK']} live" for s in sessions_by_user[pk] if live(s)]
    bad += [f"a session held live was refused: {u}" for u in by_op["unexpected"] if u["pk"] not in uncertain]
    checks.check("a password change, revoke-others, logout, session end or deletion that answered success left no live session behind", bad,
                 f"{len(by_op['password_changed'])} password changes, {len(by_op['others_revoked'])} revoke-others, "
                 f"{len(by_op['session_ended'])} sessions ended, {len(deleted)} deletions")

    # 6. The throttle's records stay bounded: one per address tried, each with its TTL.
    bad = []
    tried = len({o["email"] for o in by_op["join"]}) + 8
    if len(throttles) > tried:
        bad.append(f"{len(throttles)} throttle records for at most {tried} addresses")
    bad += [f"throttle record without TTL: {t}" for t in throttles if "expires_at" not in t]
    checks.check("the throttle's items stay bounded", bad,
                 f"{len(throttles)} throttle records (at most one per address: {tried} possible)")

    # 7. Every answer the contract's; 503 only with Retry-After and a fault on.
    bad = []
    spans = [(w["start"], w["end"] + FAULT_MARGIN_SECONDS) for w in windows]
    outside = 0
    for r in requests:
        allowed = ALLOWED.get(r["route"], set())
        if r["status"] not in allowed:
            bad.append(f"{r['route']} answered {r['status']} {r.get('error', '')}: {r}")
        elif r["status"] not in (204,) and not r["json"]:
            bad.append(f"{r['route']} answered {r['status']} without a JSON body: {r}")
        if r["status"] == 503:
            if not r.get("retry_after"):
                bad.append(f"503 without Retry-After: {r}")
            end = r["t"] + r["ms"] / 1000
            if not any(r["t"] <= stop and end >= start for start, stop in spans):
                outside += 1
                bad.append(f"503 with no fault on: {r}")
    checks.check("every answer the contract's: no 502 or bare 500, 503 always with Retry-After and only while a fault was on",
                 bad, f"{len(requests)} answers, {sum(r['status'] == 503 for r in requests)} of them 503")

    # 8. Nobody waited past the function's timeout.
    limit_ms = (timeout_seconds + DURATION_MARGIN_SECONDS) * 1000
    slow = [r for r in requests if r["ms"] > limit_ms]
    checks.check(f"no request waited past the function timeout ({timeout_seconds} s) plus {DURATION_MARGIN_SECONDS:g} s",
                 [f"{r['route']} took {r['ms']:.0f} ms: {r}" for r in slow],
                 f"longest {max((r['ms'] for r in requests), default=0):.0f} ms")

    # 9. No secret in the run's logs.
    bad = []
    for name, text in logs.items():
        for shape, what in ((PASSWORD_SHAPE, "a password"), (JWT_SHAPE, "a token")):
            found = shape.search(text)
            if found:
                # What comes before it, never the secret itself.
                bad.append(f"{what} in {name}: …{text[max(0, found.start() - 60):found.start()]}")
        if key and key in text:
            bad.append(f"the signing key in {name}")
    checks.check("no secret in the logs of the run", bad, f"{len(logs)} logs read: {', '.join(logs)}")
    return checks


def figures(requests, windows):
    if not requests:
        return "No requests.\n"
    first = min(r["t"] for r in requests)
    last = max(r["t"] + r["ms"] / 1000 for r in requests)
    seconds = max(last - first, 1e-9)
    spans = [(w["start"], w["end"] + FAULT_MARGIN_SECONDS) for w in windows]

    def in_fault(r):
        return any(r["t"] <= stop and r["t"] + r["ms"] / 1000 >= start for start, stop in spans)

    lines = [
        f"{len(requests)} requests in {seconds:.0f} s ({len(requests) / seconds:.1f} a second).",
        "",
        "| route | requests | a second | p50 ms | p95 ms | p99 ms | max ms | answers | during faults |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    by_route = defaultdict(list)
    for r in requests:
        by_route[r["route"]].append(r)
    for route in sorted(by_route, key=lambda name: -len(by_route[name])):
        rs = by_route[route]
        ms = [r["ms"] for r in rs]
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(r["status"] for r in rs).items()))
        faulted = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(r["status"] for r in rs if in_fault(r)).items()))
        lines.append(
            f"| `{route}` | {len(rs)} | {len(rs) / seconds:.1f} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | "
            f"{percentile(ms, 99):.0f} | {max(ms):.0f} | {answers} | {faulted or '–'} |"
        )
    lines += ["", "| fault window | from s | to s | what it did |", "| --- | ---: | ---: | --- |"]
    for w in windows:
        did = ", ".join(f"{k}: {v}" for k, v in sorted(w["did"].items())) or "nothing reached it"
        lines.append(f"| {w['fault']} ({w['rate']:g}) | {w['start'] - first:.1f} | {w['end'] - first:.1f} | {did} |")
    return "\n".join(lines) + "\n"


def verdicts(checks):
    lines = ["| invariant | result |", "| --- | --- |"]
    for name, violations, detail in checks.results:
        verdict = f"**{len(violations)} violations**" if violations else "holds"
        lines.append(f"| {name} | {verdict}: {detail} |")
    return "\n".join(lines) + "\n"


def self_test():
    """A small whole run, then one defect at a time: the invariant it breaks must say so."""
    now = 1_800_000_000.0
    user = {"PK": "USER#1", "SK": "USER", "email": "a@example.com", "session_epoch": 2, "is_active": True}
    claim = {"PK": "EMAIL#a@example.com", "SK": "EMAIL", "user_id": 1}

    def session(sid, **changes):
        item = {"PK": "USER#1", "SK": f"SESSION#{sid}", "refresh_jti": f"j{sid}", "epoch": 2, "revoked": False,
                "expires_at": now + 3600, "created_at": now - 100}
        return {**item, **changes}

    items = [user, claim, session("s1"), session("s2", revoked=True), session("s3", revoked=True),
             {"PK": "THROTTLE#a@example.com", "SK": "LOGIN", "failures": 1, "expires_at": now + 60},
             {"PK": "EVENTS#1", "SK": "EVENT#1#x", "type": "token_reuse_detected"}]
    ops = [{"op": "join", "email": "a@example.com", "pk": 1},
           {"op": "password_changed", "pk": 1, "sid": "s1", "started": now - 50},
           {"op": "session_ended", "pk": 1, "sid": "s2", "how": "logout"},
           {"op": "replayed", "pk": 1, "sid": "s3", "status": 401}]
    windows = [{"fault": "throttle", "rate": 0.3, "start": now - 30, "end": now - 20, "did": {}}]
    requests = [{"t": now - 25, "ms": 40, "route": "POST /account/token/refresh/", "status": 503, "retry_after": "1", "json": True},
                {"t": now - 10, "ms": 20, "route": "GET /account/mypage/", "status": 200, "retry_after": None, "json": True}]
    logs = {"api.log": '{"level":"WARN","message":"spent refresh token presented again"}'}

    def run(items=items, requests=requests, ops=ops, logs=logs):
        return {name for name, violations, _ in evaluate(items, requests, ops, windows, logs, "k3y", 10, now).failed()}

    assert run() == set(), f"a whole run broke {run()}"
    defects = {
        "every join that answered 201": dict(items=[i for i in items if i is not user]),
        "no e-mail has two users": dict(items=items + [{**user, "PK": "USER#2"}]),
        "no session is half-created": dict(items=items + [session("s9", PK="USER#7")]),
        "every refresh family": dict(items=[i for i in items if "s3" not in i["SK"]] + [session("s3")]),
        "a password change": dict(items=items + [session("s4", created_at=now - 80)]),
        "the throttle's items": dict(items=items + [{"PK": f"THROTTLE#{n}", "SK": "LOGIN", "expires_at": now} for n in range(20)]),
        "every answer the contract's": dict(requests=requests + [{**requests[1], "status": 502}]),
        "no request waited": dict(requests=requests + [{**requests[1], "ms": 11_500}]),
        "no secret in the logs": dict(logs={"api.log": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}),
    }
    more = {
        "a 503 with no fault on": dict(requests=requests + [{**requests[0], "t": now - 5 + FAULT_MARGIN_SECONDS + 1}]),
        "a 503 without Retry-After": dict(requests=requests + [{**requests[0], "retry_after": None}]),
        "a password in a log": dict(logs={"api.log": "password Ld-abcdefghijkl-7q"}),
        "the signing key in a log": dict(logs={"api.log": "key k3y"}),
        "a reuse detection nobody caused": dict(ops=[o for o in ops if o["op"] != "replayed"]),
        "a deleted user's sessions left with no failed sweep": dict(
            items=items + [session("s8", PK="USER#5")], ops=ops + [{"op": "deleted", "pk": 5, "email": "b@example.com"}]),
    }
    expected_of_more = {
        "a 503 with no fault on": "every answer the contract's",
        "a 503 without Retry-After": "every answer the contract's",
        "a password in a log": "no secret in the logs",
        "the signing key in a log": "no secret in the logs",
        "a reuse detection nobody caused": "every refresh family",
        "a deleted user's sessions left with no failed sweep": "no session is half-created",
    }
    # The same leftovers after a sweep that met a fault (the function says so) are no defect.
    swept = more["a deleted user's sessions left with no failed sweep"]
    assert run(**swept, logs={"api.log": SWEEP_FAILED}) == set(), "a failed sweep's leftovers were taken for a defect"
    for name, defect in [*defects.items(), *more.items()]:
        broken = run(**defect)
        target = expected_of_more.get(name, name)
        assert any(b.startswith(target) for b in broken), f"{name}: the invariant did not fail ({broken})"
    print(f"check_load: self-test: a whole run holds; each of {len(defects) + len(more)} defects fails its invariant")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]))
