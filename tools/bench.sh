#!/usr/bin/env bash
# `make bench`: release builds, then the figures of docs/performance.md — cold starts beside a
# hello-world lambda_http function, warm cost per route (memory store and local DynamoDB), CPU
# per request through the runtime loop, Argon2, peak memory, zipped arm64 sizes and throughput
# through the local stack. Writes docs/bench-results.md. Never part of `make test`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_tools
if ! command -v wrk > /dev/null; then
    say "installing wrk (Debian package) for the throughput runs"
    apt-get install -y -q wrk > /dev/null || { apt-get update -q > /dev/null && apt-get install -y -q wrk > /dev/null; }
fi

COLD_STARTS="${COLD_STARTS:-20}"
WARM_ITERATIONS="${WARM_ITERATIONS:-400}"
OUT="$ROOT/docs/bench-results.md"
mkdir -p "$ROOT/docs" "$LOCAL"

say "release builds"
cargo build --release --quiet --bins -p join -p login -p logout -p refresh -p password-change -p mypage -p token-verify -p user -p user-delete -p sessions -p sessions-revoke-others \
    -p password-reset -p password-reset-confirm -p verify-email -p resend-email -p well-known -p social-login -p social-connect -p social-accounts -p social-account-disconnect -p bench -p account-admin

stack_begin
trap stack_end EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
dynamodb_port="$(free_port)"
start_dynamodb "$dynamodb_port"
use_local_dynamodb "$dynamodb_port"

{
    echo "# Benchmark results"
    echo
    echo "Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)."
    echo "Release builds for this machine (x86_64); Lambda runs the arm64 builds."
    echo
    echo "## Cold start and peak memory"
    echo
} > "$OUT"
say "cold starts ($COLD_STARTS per function) and peak memory"
target/release/cold-start target/release "$COLD_STARTS" >> "$OUT"

say "warm cost per route ($WARM_ITERATIONS iterations)"
{ echo; echo "## Warm cost per route (in process)"; echo; } >> "$OUT"
target/release/warm "$WARM_ITERATIONS" >> "$OUT"

say "CPU per request through the runtime loop (the real binaries, our Runtime API, the local DynamoDB)"
{ echo; echo "## CPU per request through the runtime loop"; echo; } >> "$OUT"
target/release/cpu-per-request target/release "${CPU_REQUESTS:-2000}" "${CPU_HASHING_REQUESTS:-100}" >> "$OUT"

say "arm64 builds, as Lambda receives them"
ensure_arm64_target
cargo lambda build --release --arm64 --quiet -p join -p login -p logout -p refresh -p password-change -p mypage -p token-verify -p user -p user-delete -p sessions -p sessions-revoke-others \
    -p password-reset -p password-reset-confirm -p verify-email -p resend-email -p well-known \
    -p social-login -p social-connect -p social-accounts -p social-account-disconnect
{ echo; echo "## arm64 bootstrap sizes (cargo lambda build --release --arm64)"; echo; } >> "$OUT"
python3 - >> "$OUT" <<'PY'
import io, pathlib, zipfile
print("| function | bootstrap MiB | zipped MiB |")
print("| --- | ---: | ---: |")
for bootstrap in sorted(pathlib.Path("target/lambda").glob("*/bootstrap")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(bootstrap, "bootstrap")
    print(f"| {bootstrap.parent.name} | {bootstrap.stat().st_size / 2**20:.2f} | {len(buffer.getvalue()) / 2**20:.2f} |")
PY

say "throughput through the local stack (release, four instances per function)"
export TABLE_NAME="bench-$(date +%s)"
target/release/account-admin create-table > /dev/null
export JWT_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
# Rotation off for this run only: wrk repeats one request, and a rotated token is spent.
export ROTATE_REFRESH_TOKENS=false RUST_LOG=error
# Password reset timed for a known and an unknown address (below): mail to a local outbox, the
# default answer floor, and an hourly limit high enough that every known request sends.
export EMAIL_BACKEND=file EMAIL_OUTBOX_DIR="$LOCAL/outbox-bench" PASSWORD_RESET_MAX_PER_HOUR=100
api_port="$(free_port)"
stack_functions_on "$api_port"
stack_service "$LOCAL/watch-bench.log" \
    cargo lambda watch -A 127.0.0.1 -P "$api_port" --release --ignore-changes --disable-cors --concurrency 4
api="http://127.0.0.1:$api_port"
wait_for_http "$api/account/mypage/" 600
tokens="$(curl -s -X POST "$api/account/join/" -H 'Content-Type: application/json' \
    -d '{"email":"bench@example.com","password1":"Tutorial-Pw!7319","password2":"Tutorial-Pw!7319"}')"
access="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["access"])' "$tokens")"
refresh="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["refresh"])' "$tokens")"
# The emulator builds and starts each function on its first requests: four at once (one per
# instance wrk will use) must all answer 200 before anything is timed.
warm_up() {
    local statuses
    statuses="$(for _ in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code}\n' --max-time 900 "$@" & done; wait)"
    if [ "$(sort -u <<< "$statuses")" != 200 ]; then
        say "warm-up of ${*: -1} answered: $(tr '\n' ' ' <<< "$statuses")"
        exit 1
    fi
}
warm_up -H "Authorization: Bearer $access" "$api/account/mypage/"
warm_up -X POST -H 'Content-Type: application/json' -d "{\"refresh\":\"$refresh\"}" "$api/account/token/refresh/"
cat > "$LOCAL/refresh.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"refresh":"$refresh"}'
LUA
{ echo; echo "## Throughput through cargo lambda watch (wrk, 4 connections, 15 s)"; echo; } >> "$OUT"
echo "| route | requests/s | p50 ms | p99 ms |" >> "$OUT"
echo "| --- | ---: | ---: | ---: |" >> "$OUT"
for route in mypage refresh; do
    if [ "$route" = mypage ]; then
        wrk -t2 -c4 -d2s -H "Authorization: Bearer $access" "$api/account/mypage/" > /dev/null
        result="$(wrk -t2 -c4 -d15s --latency -H "Authorization: Bearer $access" "$api/account/mypage/")"
    else
        wrk -t2 -c4 -d2s -s "$LOCAL/refresh.lua" "$api/account/token/refresh/" > /dev/null
        result="$(wrk -t2 -c4 -d15s --latency -s "$LOCAL/refresh.lua" "$api/account/token/refresh/")"
    fi
    python3 - "$route" "$result" >> "$OUT" <<'PY'
import re, sys
route, text = sys.argv[1], sys.argv[2]
def ms(label):
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
note = f" ({errors.group(1)} non-2xx)" if errors else ""
print(f"| {route}{note} | {float(rps):.0f} | {ms('50%'):.2f} | {ms('99%'):.2f} |")
PY
done
say "password reset: a known and an unknown address, timed alike"
{ echo; echo "## Password reset: known and unknown address (through cargo lambda watch)"; echo; } >> "$OUT"
python3 "$ROOT/tools/reset_timing.py" "$api" bench@example.com "${RESET_REQUESTS:-40}" >> "$OUT"
if [ "${PROFILES:-1}" != 0 ]; then
    say "release profiles compared (PROFILES=0 skips this part)"
    { echo; echo "## Release profiles compared (x86_64 builds, Argon2: ${ARGON2_ROUNDS:-7} interleaved rounds of ${ARGON2_RUNS:-15} runs each)"; echo; } >> "$OUT"
    tools/bench-profiles.sh >> "$OUT"
fi
say "written to docs/bench-results.md"
cat "$OUT"
