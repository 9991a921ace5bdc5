#!/usr/bin/env bash
# `make dev`: the whole API on loopback — DynamoDB (moto) and every function behind
# cargo lambda's router, CONCURRENCY instances per function, the front end (web/), and a local
# social-login provider (tools/oidc) on SOCIAL_PORT (a free port unless set). It starts only when both ports are
# free, and however it ends (Ctrl-C, TERM, HUP, KILL) nothing it started survives
# (tools/stack.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
API_PORT="${API_PORT:-9000}"
WEB_PORT="${WEB_PORT:-9001}"
PROFILE="${PROFILE:-dev}"
# Instances per function, as Lambda runs one per request in flight (races show only then).
CONCURRENCY="${CONCURRENCY:-4}"

install_tools
# Both ports first: the API port answering is no proof that this stack answers there.
require_free_port "$API_PORT" API_PORT
require_free_port "$DYNAMODB_PORT" DYNAMODB_PORT
require_free_port "$WEB_PORT" WEB_PORT
stack_begin
trap stack_end EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

say "DynamoDB (moto) on 127.0.0.1:$DYNAMODB_PORT"
start_dynamodb "$DYNAMODB_PORT" DYNAMODB_PORT
use_local_dynamodb "$DYNAMODB_PORT"
export TABLE_NAME="${TABLE_NAME:-accounts}"
cargo run --quiet -p account-admin -- create-table

# The signing keys live in .local/ (made on first run); `make rotate-key` rotates them and the
# warm functions read them again within JWT_KEY_REFRESH_SECONDS.
cargo build --quiet -p account-admin
if [ -z "${JWT_SIGNING_KEY:-}" ]; then
    use_signing_key_files "${JWT_ALGORITHM:-HS256}" "$LOCAL"
fi
export JWT_ISSUER="${JWT_ISSUER:-http://127.0.0.1:$API_PORT/account}"
export JWT_KEY_REFRESH_SECONDS="${JWT_KEY_REFRESH_SECONDS:-10}"
export RUST_LOG="${RUST_LOG:-info}"
# Mail (password reset, address confirmation) is written to .local/outbox/, one .eml file per
# message, like Django's file backend; the functions log each file's path and link (local only:
# the SES backend logs neither). The links open the front end below.
export EMAIL_BACKEND="${EMAIL_BACKEND:-file}" EMAIL_OUTBOX_DIR="${EMAIL_OUTBOX_DIR:-$LOCAL/outbox}"
# Addresses are verified (optional: join mails a link, nothing waits for it), so the front end's
# confirmation pages have something to show; the deployed default is the tutorial's `none`.
export EMAIL_VERIFICATION="${EMAIL_VERIFICATION:-optional}"
# (Braces inside ${…:-…} would end it early: the defaults are spelt out first.)
reset_url="http://localhost:$WEB_PORT/#/reset/{uid}/{token}"
confirm_url="http://localhost:$WEB_PORT/#/verify/{key}"
export PASSWORD_RESET_URL="${PASSWORD_RESET_URL:-$reset_url}"
export EMAIL_CONFIRM_URL="${EMAIL_CONFIRM_URL:-$confirm_url}"
# Browser origins allowed to call the API with credentials (the functions answer CORS
# themselves, as behind the deployed REST API).
# The front end of web/ (below) is one of them, on its own port: another origin, as deployed.
export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-http://localhost:$WEB_PORT,http://127.0.0.1:$WEB_PORT,http://localhost:3000,http://127.0.0.1:3000}"
# Social login against the local OpenID Connect provider (tools/oidc): its Google and Kakao, with
# their own development login and consent pages (any login, any password), sending the browser
# back to the front end below; the functions exchange the codes with it. Its Naver is only a fake
# token API with no pages: the functions accept it, the page offers no Naver button. Skipped when
# SOCIAL_PROVIDERS is set (providers of your own: give the page WEB_SOCIAL_PROVIDERS, as
# web/config.js describes SOCIAL_PROVIDERS), or without Node.js.
social_url=""
if [ -n "${SOCIAL_PROVIDERS:-}" ]; then
    say "social login: SOCIAL_PROVIDERS as set (the page's: WEB_SOCIAL_PROVIDERS)"
elif ! command -v node > /dev/null; then
    say "social login: off (no Node.js for the local provider, tools/oidc)"
else
    SOCIAL_PORT="${SOCIAL_PORT:-$(free_port)}"
    say "the local social-login provider (tools/oidc) on 127.0.0.1:$SOCIAL_PORT"
    start_oidc_provider "$SOCIAL_PORT" "http://localhost:$WEB_PORT/" "http://127.0.0.1:$WEB_PORT/"
    social_url="http://127.0.0.1:$SOCIAL_PORT"
    use_local_social_providers "$social_url" "$LOCAL/dev-social-secrets.json"
    export WEB_SOCIAL_PROVIDERS='{
      "google": {"authorize": "'"$social_url"'/google/auth", "client_id": "local-google-client", "scope": "openid email profile", "pkce": true, "nonce": true},
      "kakao": {"authorize": "'"$social_url"'/kakao/auth", "client_id": "local-kakao-client", "scope": "openid email profile", "pkce": true, "nonce": true}}'
fi
release=()
[ "$PROFILE" = "release" ] && release=(--release)

say "building the functions (${PROFILE})"
cargo build --quiet --bins "${release[@]}"
require_free_port "$API_PORT" API_PORT
# --disable-cors: the emulator would answer preflights itself, the deployed gateway does not.
stack_functions_on "$API_PORT"
stack_service - cargo lambda watch -A 127.0.0.1 -P "$API_PORT" --disable-cors \
    --concurrency "$CONCURRENCY" "${release[@]}"
WATCH_PID=$SERVICE_PID
wait_for_http "http://127.0.0.1:$API_PORT/account/mypage/" 300
if ! listener_in_group "$API_PORT" "$WATCH_PID"; then
    say "cargo lambda watch is not the one listening on 127.0.0.1:$API_PORT; see its output above"
    exit 1
fi

say "the front end (web/) on 127.0.0.1:$WEB_PORT"
stack_service "$LOCAL/web.log" python "$ROOT/tools/web_server.py" 127.0.0.1 "$WEB_PORT" "$API_PORT"
wait_for_http "http://127.0.0.1:$WEB_PORT/" 30

cat <<INFO

  The account API is up at http://127.0.0.1:$API_PORT/account/ ($CONCURRENCY instances per function)
  (DynamoDB on 127.0.0.1:$DYNAMODB_PORT, table $TABLE_NAME; data lives until you stop.)

  Try:
    curl -s -X POST http://127.0.0.1:$API_PORT/account/join/ \\
      -H 'Content-Type: application/json' \\
      -d '{"email":"you@example.com","password1":"Tutorial-Pw!7319","password2":"Tutorial-Pw!7319"}'

  The front end: http://localhost:$WEB_PORT/ (web/, calling this API with credentials)
  Mail (password reset, EMAIL_VERIFICATION=$EMAIL_VERIFICATION): files in $EMAIL_OUTBOX_DIR/, each logged with its link
INFO
[ -n "$social_url" ] && cat <<INFO
  Social login: "Continue with Google / Kakao" on the page goes to the local provider at
  $social_url (any login, any password; a login with @ is the e-mail address)
INFO
cat <<INFO

  Ctrl-C stops everything.

INFO
wait "$WATCH_PID"
