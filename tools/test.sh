#!/usr/bin/env bash
# `make test`: formatting, lints, then every test — unit, handler, store (against moto) and
# end-to-end (real HTTP through cargo lambda watch and its router) — on free ports.
# Everything it starts is stopped on exit, failure included.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

install_tools
install_dynalite
install_consumers
install_chromium
install_oidc_provider

say "cargo fmt --check"
cargo fmt --all --check
say "shared's module layers (no import cycle)"
python3 tools/check_modules.py
python3 tools/check_modules.py --self-test
say "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# --all-targets means the targets with tests: the end-to-end and faults targets (test = false,
# they need a stack) are named.
cargo clippy --workspace --test e2e --test faults --quiet -- -D warnings
say "building functions and tests"
cargo build --workspace --bins --quiet
cargo test --workspace --tests --no-run --quiet
cargo test --workspace --test e2e --test faults --no-run --quiet
stack_begin
# The throwaway key files of this run go with it.
trap 'stack_end; rm -rf "$LOCAL"/test-keys-$$-*' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A check that ran beside: its output, and its status.
collect() {
    local name="$1" pid="$2" log="$3"
    if ! wait "$pid"; then
        cat "$log"
        say "$name FAILED (output: ${log#"$ROOT"/})"
        exit 1
    fi
}

# The deploy files' checks are single-threaded Python (cfn-lint, samtranslator): they run beside
# the stack's start and the unit, handler and store tests.
say "deploy files: template (and the example consumer's) expanded and linted, routes and table in step, OpenAPI valid (beside what follows; output: .local/deploy-checks.log)"
mkdir -p "$LOCAL"
"$ROOT/target/debug/account-admin" table-definition > "$LOCAL/table-definition.json"
stack_service "$LOCAL/deploy-checks.log" bash -c 'set -e
python "$1/tools/check_deploy.py" "$2/table-definition.json"
python "$1/tools/check_example.py"
python "$1/tools/iam_enforce.py" --self-test > "$2/iam-self-test.log"
python "$1/tools/load/check_load.py" --self-test
openapi-spec-validator "$1/openapi.yaml"' deploy-checks "$ROOT" "$LOCAL"
deploy_checks_pid="$SERVICE_PID"
# The book (docs/): built, every link and anchor checked, every route and variable documented.
"$ROOT/tools/check-docs.sh"

start_test_stack watch-test HS256
export E2E_API_URL="$STACK_API_URL"

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
    say "cargo test: a social provider down, then slow (alone: it takes the local provider down)"
    cargo test --workspace --test e2e outage -- --ignored
}

# The store tests log every request they send, for the dynalite check below.
export DYNAMODB_REQUEST_LOG="$LOCAL/store-requests.jsonl"
rm -f "$DYNAMODB_REQUEST_LOG"
# Every target with tests but the end-to-end and faults ones (test = false in tests/Cargo.toml),
# which run in parts below: --tests skips the lib and bin targets that hold no test. --workspace
# on every run keeps one feature resolution, so nothing is compiled twice.
say "cargo test (unit, handler, store, events, logs)"
cargo test --workspace --tests

# Two checks that spend most of their time waiting run beside the end-to-end tests: the faults
# tests (the SDK's retries against dead or throttled endpoints) and the dynalite replay. Their
# binaries run directly: a second cargo would wait for the first one's lock on target/.
faults_test="$(cargo test --workspace --test faults --no-run --message-format=json --quiet | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "faults" and message.get("executable"):
        print(message["executable"])')"
say "faults tests, beside the end-to-end tests (output: .local/faults.log)"
cd "$ROOT/tests"  # where cargo would run it
stack_service "$LOCAL/faults.log" "$faults_test"
faults_pid="$SERVICE_PID"
cd "$ROOT"

# moto accepts some malformed expressions that DynamoDB refuses; dynalite refuses them as
# DynamoDB does. Every request the store tests sent is replayed there.
dynalite_port="$(free_port)"
say "dynalite on 127.0.0.1:$dynalite_port: the store's requests, checked beside the end-to-end tests"
stack_service "$LOCAL/dynalite.log" node "$TOOLS/dynalite/node_modules/dynalite/cli.js" --port "$dynalite_port"
wait_for_http "http://127.0.0.1:$dynalite_port" 30
stack_service "$LOCAL/check-expressions.log" python "$ROOT/tools/check_expressions.py" "$DYNAMODB_REQUEST_LOG" "$dynalite_port" "$LOCAL/table-definition.json"
expressions_pid="$SERVICE_PID"

end_to_end

# The front end in headless Chromium, against a stack of its own (short-lived access tokens),
# beside schemathesis, the make dev check and the ES256 round.
say "browser tests, beside what follows (output: .local/browser-test.log)"
stack_service "$LOCAL/browser-test.log" "$ROOT/tools/browser-test.sh"
browser_pid="$SERVICE_PID"

collect "deploy checks" "$deploy_checks_pid" "$LOCAL/deploy-checks.log"
cat "$LOCAL/deploy-checks.log"
collect "faults tests" "$faults_pid" "$LOCAL/faults.log"
grep -E '^test result' "$LOCAL/faults.log"
collect "dynalite check" "$expressions_pid" "$LOCAL/check-expressions.log"
cat "$LOCAL/check-expressions.log"

# `make dev` itself: it refuses a port another stack holds, and nothing it started survives
# Ctrl-C, TERM, HUP, TERM-then-KILL or KILL of the script alone (tools/stack.sh). It mostly
# waits on processes starting and stopping, so it runs beside schemathesis and the ES256 round.
say "make dev: busy ports refused, nothing left behind however it stops (beside what follows; output: .local/dev-stop.log)"
stack_service "$LOCAL/dev-stop.log" python3 "$ROOT/tools/check_dev_stop.py"
dev_stop_pid="$SERVICE_PID"

# Every answer the API gives to generated requests must match openapi.yaml, and none may be a
# server error; protected routes get live credentials (tools/schemathesis_hooks.py). A fixed
# seed and no example database (.hypothesis/ replays earlier examples) keep runs comparable, here
# and in a fresh clone; the budget keeps it short (`make fuzz-api` is the long run).
say "schemathesis: the running stack against openapi.yaml"
run_schemathesis "$E2E_API_URL" test --seed 20261126 --max-examples 10 --generation-database none

# The end-to-end suites whose outcome depends on how tokens are signed and checked, again with
# ES256 tokens (published keys, kid, iss), against the API restarted in that mode: every token
# route (refresh, verify, logout, mypage's 401s), the flows, the racing refreshes (ES256
# signatures are randomised), the published keys, the attack list (alg and kid confusion), a
# reset link forged with the stack's ES256 key (the mailed links' keys derive from it) and a
# rotation. The other suites test what the mode does not touch (validation, the store, sessions,
# CORS) on tokens of the same code path; the unit and handler tests cover both modes' token code.
say "the token-dependent end-to-end suites again with JWT_ALGORITHM=ES256"
stack_stop_service "$STACK_API_PID" "$STACK_API_PORT"
# An audience, as the documented set-up for other services has it: access tokens carry it and
# the `at+jwt` type, refresh tokens neither.
export JWT_AUDIENCE=orders-api
start_test_api watch-test-es256 ES256
export E2E_API_URL="$STACK_API_URL"
cargo test --workspace --test e2e -- flows:: refresh:: token_verify:: logout:: races:: mypage:: well_known:: white_box::attacks:: \
    white_box::mail::an_expired_token
say "standard verifiers of other services (PyJWT, jose) take access tokens and refuse refresh tokens"
python "$ROOT/tools/check_consumers.py" "$E2E_API_URL" "$JWT_AUDIENCE"
say "cargo test: a key rotation over the running stack (ES256)"
cargo test --workspace --test e2e rotation -- --ignored

collect "make dev check" "$dev_stop_pid" "$LOCAL/dev-stop.log"
cat "$LOCAL/dev-stop.log"
collect "browser tests" "$browser_pid" "$LOCAL/browser-test.log"
grep -E 'passed|failed|screenshots' "$LOCAL/browser-test.log"

# Every function ran under its own IAM policy (tools/iam_enforce.py): a call the template does
# not grant fails its request, and the function logs an aws_access_denied alert. Even one a test
# did not notice fails the run.
denied="$(cat "$LOCAL"/watch-test.log "$LOCAL"/watch-test-es256.log "$LOCAL"/watch-browser.log | grep -c aws_access_denied || true)"
if [ "$denied" != "0" ]; then
    grep -h aws_access_denied "$LOCAL"/watch-test.log "$LOCAL"/watch-test-es256.log "$LOCAL"/watch-browser.log | head -5
    say "IAM refused $denied calls of the functions: template.yaml lacks what the code calls"
    exit 1
fi
say "IAM: every call of every function was granted by its policy in template.yaml"

# A minute of `make load` (the debug build; the release one by hand): a stack of its own, its
# DynamoDB behind the fault proxy, every fault of the schedule once, then the invariants from the
# table. Alone, last: on two cores, other suites beside it would time requests out with no fault
# on. Its own environment, not this run's (table, keys, credentials).
say "load: a minute of the mixed workload under faults, then the invariants from the table (output: .local/load-test.log)"
stack_stop_service "$STACK_API_PID" "$STACK_API_PORT"
if ! env -i HOME="$HOME" PATH="$PATH" ${CARGO_HOME:+CARGO_HOME="$CARGO_HOME"} ${RUSTUP_HOME:+RUSTUP_HOME="$RUSTUP_HOME"} \
    LOAD_SECONDS=60 LOAD_USERS=20 PROFILE=dev "$ROOT/tools/load.sh" > "$LOCAL/load-test.log" 2>&1; then
    tail -n 60 "$LOCAL/load-test.log"
    say "the load run FAILED (output: .local/load-test.log)"
    exit 1
fi
grep -E '^(\| (every|no |a password|the throttle)|[0-9]+ requests in)' "$LOCAL/load-test.log"
say "make test passed"
