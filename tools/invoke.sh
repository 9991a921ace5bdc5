#!/usr/bin/env bash
# `make invoke`: sends every sample event in events/ (REST API proxy events, payload 1.0) to its
# function on the running local stack (`make dev` in another terminal) with
# `cargo lambda invoke`, and shows each answer. The function is the one the local router gives
# the event's `path` (the request path without the stage, trailing slash kept).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_tools
API_PORT="${API_PORT:-9000}"

for event in events/*.json; do
    path="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["path"])' "$event")"
    function="$(python3 - "$path" <<'PY'
import sys, tomllib
router = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["metadata"]["lambda"]["watch"]["router"]
print(router.get(sys.argv[1], router["/account/{*unknown}"]))
PY
)"
    printf '\n== %s → %s\n' "$event" "$function"
    cargo lambda invoke -A 127.0.0.1 -P "$API_PORT" "$function" --data-file "$event" \
        | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r.get("statusCode"), r.get("body"))'
done
