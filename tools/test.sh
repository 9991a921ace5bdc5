#!/usr/bin/env bash
# `make test`: formatting, lints, then every test — unit, handler, store (against moto) and
# end-to-end (real HTTP through cargo lambda watch and its router) — on free ports.
# Everything it starts is stopped on exit, failure included.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

install_tools
install_dynalite

say "cargo fmt --check"
cargo fmt --all --check
say "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "building functions and tests"
cargo build --workspace --bins --quiet
cargo test --workspace --no-run --quiet
say "deploy files: template (and the example consumer's) expanded and linted, routes and table in step, OpenAPI valid"
mkdir -p "$LOCAL"
"$ROOT/target/debug/account-admin" table-definition > "$LOCAL/table-definition.json"
python "$ROOT/tools/check_deploy.py" "$LOCAL/table-definition.json"
python "$ROOT/tools/check_example.py"
openapi-spec-validator openapi.yaml

stack_begin
# The throwaway key files of this run go with it.
trap 'stack_end; rm -rf "$LOCAL"/test-keys-$$-*' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

dynamodb_port="$(free_port)"
say "DynamoDB (moto) on 127.0.0.1:$dynamodb_port"
start_dynamodb "$dynamodb_port"
use_local_dynamodb "$dynamodb_port"
export TABLE_NAME="e2e-$(date +%s)"
"$ROOT/target/debug/account-admin" create-table

export RUST_LOG="${RUST_LOG:-warn}"
# The browser origins the functions answer CORS for (the e2e tests check both sides of it).
export ALLOWED_ORIGINS="http://localhost:3000,http://localhost:9001"

# The API under cargo lambda watch on a free port, its tokens signed with $1 (HS256 or ES256):
# throwaway key files for this run only, read again before every request
# (JWT_KEY_REFRESH_SECONDS=0), so a rotation reaches every instance at once. Sets api_port and
# WATCH_PID, exports E2E_API_URL.
start_api() {
    local route ok status
    use_signing_key_files "$1" "$LOCAL/test-keys-$$-$1"
    api_port="$(free_port)"
    export JWT_ISSUER="http://127.0.0.1:$api_port/account" JWT_KEY_REFRESH_SECONDS=0
    say "cargo lambda watch on 127.0.0.1:$api_port ($1 tokens)"
    # --disable-cors: the functions answer OPTIONS themselves (the emulator would answer it
    # first); --concurrency 4: racing requests reach separate function instances, as on Lambda.
    stack_functions_on "$api_port"
    stack_service "$LOCAL/watch-test-$1.log" \
        cargo lambda watch -A 127.0.0.1 -P "$api_port" --ignore-changes --disable-cors --concurrency 4
    WATCH_PID=$SERVICE_PID
    wait_for_http "http://127.0.0.1:$api_port/" 120
    # Wake each function once (the emulator starts a function on its first request).
    for route in $WAKE_ROUTES; do
        ok=""
        for _ in $(seq 1 600); do
            status="$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "http://127.0.0.1:$api_port/account/$route" || true)"
            if [ "$status" = "200" ]; then ok=1; break; fi
            sleep 0.2
        done
        [ -n "$ok" ] || { say "the $route function did not start; see .local/watch-test-$1.log"; exit 1; }
    done
    export E2E_API_URL="http://127.0.0.1:$api_port"
}

# One route of each function (with its trailing slash), to wake them.
WAKE_ROUTES="join/ login/ logout/ token/refresh/ token/verify/ password/change/ mypage/ user/ user/delete/ sessions/ sessions/revoke-others/ .well-known/jwks.json"

# The end-to-end suite against the running API: the black-box tests exactly as `make smoke` runs
# them against a deployed stack, then the white-box ones (they forge tokens with the stack's key
# or edit its table), then the key rotation over the running stack (alone: it changes the key
# every other test signs with).
end_to_end() {
    API_URL="$E2E_API_URL" "$ROOT/tools/smoke.sh"
    say "cargo test: the white-box end-to-end tests ($JWT_ALGORITHM)"
    cargo test --workspace --test e2e white_box
    say "cargo test: a key rotation over the running stack ($JWT_ALGORITHM)"
    cargo test --workspace --test e2e rotation -- --ignored
}

start_api HS256

# The store tests log every request they send, for the dynalite check below.
export DYNAMODB_REQUEST_LOG="$LOCAL/store-requests.jsonl"
rm -f "$DYNAMODB_REQUEST_LOG"
# Every test target but the end-to-end one, which runs in two parts below. --workspace on every
# run keeps one feature resolution, so nothing is compiled twice.
other_targets=()
while read -r target; do other_targets+=(--test "$target"); done < <(
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
names = {t["name"] for p in json.load(sys.stdin)["packages"] for t in p["targets"] if "test" in t["kind"]}
print("\n".join(sorted(names - {"e2e"})))')
say "cargo test (unit, handler, store, events, faults, logs)"
cargo test --workspace --lib --bins "${other_targets[@]}"

end_to_end

# moto accepts some malformed expressions that DynamoDB refuses; dynalite refuses them as
# DynamoDB does. Every request the store tests sent is replayed there.
dynalite_port="$(free_port)"
say "dynalite on 127.0.0.1:$dynalite_port: the store's requests, checked"
stack_service "$LOCAL/dynalite.log" node "$TOOLS/dynalite/node_modules/dynalite/cli.js" --port "$dynalite_port"
wait_for_http "http://127.0.0.1:$dynalite_port" 30
python "$ROOT/tools/check_expressions.py" "$DYNAMODB_REQUEST_LOG" "$dynalite_port"

# Every answer the API gives to generated requests must match openapi.yaml, and none may be a
# server error. A fixed seed keeps runs comparable; the examples budget keeps it short.
say "schemathesis: the running stack against openapi.yaml"
PYTHONPATH="$ROOT/tools" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    st run openapi.yaml --url "$E2E_API_URL" --seed 20261126 --max-examples 15 --no-color \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    > "$LOCAL/schemathesis.log" 2>&1 || { tail -n 80 "$LOCAL/schemathesis.log"; exit 1; }
tail -n 3 "$LOCAL/schemathesis.log"

# `make dev` itself: it refuses a port another stack holds, and nothing it started survives
# Ctrl-C, TERM, HUP, TERM-then-KILL or KILL of the script alone (tools/stack.sh).
say "make dev: busy ports refused, nothing left behind however it stops"
python3 "$ROOT/tools/check_dev_stop.py"

# Every test of the contract again with ES256 tokens (published keys, kid, iss): the same
# end-to-end suite against the API restarted in that mode. The unit and handler tests cover
# both modes' token code; what changes here is only how tokens are signed and checked.
say "the end-to-end suite again with JWT_ALGORITHM=ES256"
stack_stop_service "$WATCH_PID" "$api_port"
start_api ES256
end_to_end
