"""`make invoke`: sends every sample event in events/ (REST API proxy events, payload 1.0) to its
function on the running local stack (`make dev` in another terminal) with `cargo lambda invoke`,
and prints each answer's status and body.

The function is the one the local router gives the event's `path`. An event with token
placeholders gets the real tokens of an account made for it alone (join.json and login.json
with a fresh address, `invoke-<random>@example.com`), so it answers as a real client's request
would; one account each, because refresh rotates, logout revokes and password change changes
the password. The other events are sent as they are (join.json registers ada@example.com on
the first run and answers "already registered" after).

Usage: invoke.py API_PORT
"""

import json
import pathlib
import subprocess
import sys
import tomllib
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLACEHOLDERS = ("REPLACE_WITH_ACCESS_TOKEN", "REPLACE_WITH_REFRESH_TOKEN")


def function_for(path):
    with open(ROOT / "Cargo.toml", "rb") as handle:
        router = tomllib.load(handle)["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return router.get(path, router["/account/{*unknown}"])


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
                    .replace("REPLACE_WITH_REFRESH_TOKEN", refresh))
            note = f" (tokens of {email})"
        answer = invoke(port, text)
        print(f"\n== {event.relative_to(ROOT)} → {function_for(json.loads(text)['path'])}{note}")
        print(answer.get("statusCode"), answer.get("body"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "9000")
