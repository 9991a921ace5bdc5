"""`make invoke`: sends every sample event in events/ (REST API proxy events, payload 1.0) to its
function on the running local stack (`make dev` in another terminal) with `cargo lambda invoke`,
and prints each answer's status and body.

The function is the one the local router gives the event's `path` (a `{name}` segment of a
route matches any one segment). An event with token placeholders gets the real tokens of an
account made for it alone (join.json and login.json with a fresh address,
`invoke-<random>@example.com`), and the id of that login's session where it names one, so it
answers as a real client's request would; one account each, because refresh rotates, logout
revokes, password change changes the password and account deletion deletes. The other events are sent as they are (join.json registers ada@example.com on
the first run and answers "already registered" after).

Usage: invoke.py API_PORT
"""

import base64
import json
import pathlib
import re
import subprocess
import sys
import tomllib
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLACEHOLDERS = ("REPLACE_WITH_ACCESS_TOKEN", "REPLACE_WITH_REFRESH_TOKEN", "REPLACE_WITH_SESSION_ID")


def function_for(path):
    with open(ROOT / "Cargo.toml", "rb") as handle:
        router = tomllib.load(handle)["workspace"]["metadata"]["lambda"]["watch"]["router"]
    if path in router:
        return router[path]
    for route, function in router.items():
        if "{*" in route:
            continue
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", route))
        if re.fullmatch(pattern, path):
            return function
    return router["/account/{*unknown}"]


def session_id(token):
    """The session id (`sid` claim) of a token, read without checking it."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def invoke(port, text):
    """The function's answer object for the event `text`."""
    path = json.loads(text)["path"]
    result = subprocess.run(
        ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(port),
         function_for(path), "--data-ascii", text],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        sys.exit(f"cargo lambda invoke failed for {path} (is `make dev` running on port {port}?):\n{result.stderr}")
    return json.loads(result.stdout)


def fresh_tokens(port):
    """Joins and logs in a new account with the sample events; returns (email, access, refresh)."""
    email = f"invoke-{uuid.uuid4().hex}@example.com"
    for name, status in (("join.json", 201), ("login.json", 200)):
        text = (ROOT / "events" / name).read_text(encoding="utf-8").replace("ada@example.com", email)
        answer = invoke(port, text)
        if answer.get("statusCode") != status:
            sys.exit(f"{name} for a fresh account answered {answer.get('statusCode')}: {answer.get('body')}")
    body = json.loads(answer["body"])
    return email, body["access"], body["refresh"]


def main(port):
    for event in sorted((ROOT / "events").glob("*.json")):
        text = event.read_text(encoding="utf-8")
        note = ""
        if any(placeholder in text for placeholder in PLACEHOLDERS):
            email, access, refresh = fresh_tokens(port)
            text = (text.replace("ada@example.com", email)
                    .replace("REPLACE_WITH_ACCESS_TOKEN", access)
                    .replace("REPLACE_WITH_REFRESH_TOKEN", refresh)
                    .replace("REPLACE_WITH_SESSION_ID", session_id(access)))
            note = f" (tokens of {email})"
        answer = invoke(port, text)
        print(f"\n== {event.relative_to(ROOT)} → {function_for(json.loads(text)['path'])}{note}")
        print(answer.get("statusCode"), answer.get("body"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "9000")
