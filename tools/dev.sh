#!/usr/bin/env bash
# `make dev`: the whole API on loopback — DynamoDB (moto) and the six functions behind
# cargo lambda's router. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
API_PORT="${API_PORT:-9000}"
PROFILE="${PROFILE:-dev}"

install_tools
MOTO_PID=""
WATCH_PID=""
trap 'stop_all "$WATCH_PID" "$MOTO_PID"' EXIT
trap 'exit 130' INT TERM

say "DynamoDB (moto) on 127.0.0.1:$DYNAMODB_PORT"
start_dynamodb "$DYNAMODB_PORT"
use_local_dynamodb "$DYNAMODB_PORT"
export TABLE_NAME="${TABLE_NAME:-accounts}"
cargo run --quiet -p account-admin -- create-table

export JWT_SIGNING_KEY="${JWT_SIGNING_KEY:-$(dev_signing_key)}"
export RUST_LOG="${RUST_LOG:-info}"
# Browser origins allowed to call the API with credentials (the functions answer CORS
# themselves, as behind the deployed REST API).
export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-http://localhost:3000,http://127.0.0.1:3000}"
release=()
[ "$PROFILE" = "release" ] && release=(--release)

say "building the functions (${PROFILE})"
cargo build --quiet --bins "${release[@]}"
# --disable-cors: the emulator would answer preflights itself, the deployed gateway does not.
setsid cargo lambda watch -A 127.0.0.1 -P "$API_PORT" --disable-cors "${release[@]}" &
WATCH_PID=$!
wait_for_http "http://127.0.0.1:$API_PORT/account/mypage/" 300

cat <<INFO

  The account API is up at http://127.0.0.1:$API_PORT/account/
  (DynamoDB on 127.0.0.1:$DYNAMODB_PORT, table $TABLE_NAME; data lives until you stop.)

  Try:
    curl -s -X POST http://127.0.0.1:$API_PORT/account/join/ \\
      -H 'Content-Type: application/json' \\
      -d '{"email":"you@example.com","password1":"Tutorial-Pw!7319","password2":"Tutorial-Pw!7319"}'

  Ctrl-C stops everything.

INFO
wait "$WATCH_PID"
