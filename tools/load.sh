#!/usr/bin/env bash
# `make load`: the mixed workload of tools/load/locustfile.py against a stack of its own on free
# ports — DynamoDB (moto), the fault proxy of tools/load/fault_proxy.py in front of it (the
# functions reach DynamoDB only through it), every function under cargo lambda watch with
# CONCURRENCY instances each — for LOAD_SECONDS while the proxy's schedule turns faults on and
# off; then the invariants checked from the table (tools/load/check_load.py). It stops by itself,
# and stops everything it started however it ends.
#
#   LOAD_SECONDS (600)  LOAD_USERS (40)  PROFILE (release; make test runs it with dev)
#   CONCURRENCY (8 instances per function)  LOAD_FAULTS (on; off: the same run with no fault)
# The run's logs, request and act logs, fault windows and report: .local/load-<time>/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOAD_SECONDS="${LOAD_SECONDS:-600}"
LOAD_USERS="${LOAD_USERS:-40}"
LOAD_FAULTS="${LOAD_FAULTS:-on}"
PROFILE="${PROFILE:-release}"
CONCURRENCY="${CONCURRENCY:-8}"
# The function timeout of template.yaml (Globals): no request may wait longer.
FUNCTION_TIMEOUT="$(sed -n 's/^    Timeout: *\([0-9]*\) *$/\1/p' template.yaml | head -n 1)"

install_tools
install_load_tools
release=()
[ "$PROFILE" = "release" ] && release=(--release)
say "building the functions ($PROFILE)"
cargo build --quiet --bins "${release[@]}"
# account-admin (the table, the keys) from the debug build, whatever PROFILE says, as make dev.
cargo build --quiet -p account-admin

run="$LOCAL/load-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$run"
stack_begin
trap 'stack_end' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

dynamodb_port="$(free_port)"
say "DynamoDB (moto) on 127.0.0.1:$dynamodb_port"
start_dynamodb "$dynamodb_port"
mv "$LOCAL/dynamodb-$dynamodb_port.log" "$run/dynamodb.log" 2> /dev/null || true
proxy_port="$(free_port)"
control_port="$(free_port)"
say "the fault proxy on 127.0.0.1:$proxy_port (schedule control on $control_port)"
stack_service "$run/fault-proxy.log" python "$ROOT/tools/load/fault_proxy.py" \
    "$proxy_port" "$dynamodb_port" "$control_port" "$run/windows.jsonl"
wait_for_http "http://127.0.0.1:$proxy_port" 30
# The functions (and the table's creation) go through the proxy; the checks read moto directly.
use_local_dynamodb "$proxy_port"
export TABLE_NAME="load-$(date +%s)"
"$ROOT/target/debug/account-admin" create-table > /dev/null

use_signing_key_files HS256 "$run/keys"
export RUST_LOG="${RUST_LOG:-warn}"
export EMAIL_BACKEND=file EMAIL_OUTBOX_DIR="$run/outbox" EMAIL_ANSWER_FLOOR_MS=0 EMAIL_VERIFICATION=optional
api_port="$(free_port)"
export JWT_ISSUER="http://127.0.0.1:$api_port/account"
say "cargo lambda watch on 127.0.0.1:$api_port ($PROFILE, $CONCURRENCY instances per function)"
stack_functions_on "$api_port"
mkdir -p "$LOCAL/watch-root"
stack_service "$run/api.log" env --chdir "$LOCAL/watch-root" \
    cargo lambda watch --manifest-path "$ROOT/Cargo.toml" -A 127.0.0.1 -P "$api_port" \
    --ignore-changes --disable-cors --concurrency "$CONCURRENCY" "${release[@]}"
wait_for_http "http://127.0.0.1:$api_port/" 300
# The functions the workload calls (tools/load/locustfile.py), each woken once.
wake_functions "$api_port" "$run/api.log" join/ login/ token/refresh/ mypage/ user/ logout/ sessions/ \
    sessions/revoke-others/ password/change/ password/reset/ user/delete/

say "load: $LOAD_USERS people for ${LOAD_SECONDS}s, faults $LOAD_FAULTS (output: ${run#"$ROOT"/}/locust.log)"
# Without faults the proxy only forwards: the same path, so the figures compare.
[ "$LOAD_FAULTS" = off ] || curl -s -o /dev/null "http://127.0.0.1:$control_port/start?seconds=$LOAD_SECONDS"
LOAD_REQUEST_LOG="$run/requests.jsonl" LOAD_OPS_LOG="$run/ops.jsonl" \
    "$LOAD_VENV/bin/locust" -f "$ROOT/tools/load/locustfile.py" --headless --only-summary \
    --host "http://127.0.0.1:$api_port" --users "$LOAD_USERS" --spawn-rate "$LOAD_USERS" \
    --run-time "${LOAD_SECONDS}s" --stop-timeout 15 --exit-code-on-error 0 > "$run/locust.log" 2>&1
# The schedule ends with the run: wait (bounded) until the proxy has written every window.
windows="$(curl -s "http://127.0.0.1:$control_port/" | python3 -c 'import json, sys; print(json.load(sys.stdin)["windows"])')"
for _ in $(seq 1 100); do
    [ "$(wc -l < "$run/windows.jsonl")" -ge "$windows" ] && break
    sleep 0.1
done

say "the invariants, from the table"
python "$ROOT/tools/load/check_load.py" "$run" "http://127.0.0.1:$dynamodb_port" "$TABLE_NAME" \
    "$FUNCTION_TIMEOUT" "$JWT_SIGNING_KEY_FILE"
say "report: ${run#"$ROOT"/}/report.md"
