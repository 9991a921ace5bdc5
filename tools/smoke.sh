#!/usr/bin/env bash
# `make smoke API_URL=https://…/api`: the black-box end-to-end tests (every test outside a
# `white_box` module: HTTP only, no signing key, no table) against a running stack, deployed or
# local, then a pass/fail table per suite. Each run's accounts are named
# `smoke-<UTC time, digits as letters a-j>-<random>@example.com` (example.com is reserved: no mail reaches it).
# `make test` runs this against the local stack, so the deployed check cannot rot.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

API_URL="${API_URL:-}"
if [ -z "$API_URL" ]; then
    say "usage: make smoke API_URL=https://<api-id>.execute-api.<region>.amazonaws.com/<stage>"
    say "       (the stack's ApiUrl output; a custom domain's https://api.example.com works too)"
    exit 2
fi
case "$API_URL" in
    https://* | http://127.0.0.1:*) ;;
    *) say "API_URL must be https://… (or the local stack, http://127.0.0.1:PORT)"; exit 2 ;;
esac

# Against a deployed stage, fewer requests at once: the stage throttles the hashing routes
# (the tests wait out the gateway's 429s, see tests/src/lib.rs).
case "$API_URL" in
    https://*) threads="${SMOKE_THREADS:-2}" ;;
    *) threads="${SMOKE_THREADS:-4}" ;;
esac

# The run's UTC time, its digits spelled a-j (0-9): no part of an address may be a number, or
# the password-similarity rule would match the tests' numeric passwords against it.
run_id="smoke-$(date -u +%Y%m%d%H%M%S | tr 0-9 a-j)"
log="$LOCAL/$run_id.log"
mkdir -p "$LOCAL"
say "smoke: the black-box end-to-end tests against $API_URL (accounts $run_id-…@example.com)"
# --workspace keeps the features (and so the build) of `make test`'s; the white-box settings are
# removed so that a test needing them fails rather than reaching for AWS credentials.
status=0
env -u JWT_SIGNING_KEY -u JWT_SIGNING_KEY_FILE -u JWT_PREVIOUS_SIGNING_KEY_FILE -u TABLE_NAME -u AWS_ENDPOINT_URL_DYNAMODB -u E2E_OUTBOX_DIR \
    E2E_API_URL="$API_URL" E2E_EMAIL_PREFIX="$run_id" \
    cargo test --workspace --test e2e -- --skip white_box --test-threads "$threads" \
    > "$log" 2>&1 || status=$?
python3 "$ROOT/tools/smoke_report.py" "$log" || status=1
if [ "$status" != 0 ]; then
    say "smoke FAILED against $API_URL (whole output: $log)"
    exit 1
fi
