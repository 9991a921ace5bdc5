# Shared by tools/dev.sh and tools/test.sh (sourced, not run): install the pinned local tools,
# start the local DynamoDB server, prepare the table and the development signing key.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
LOCAL="$ROOT/.local"
export PATH="$VENV/bin:$PATH"
# Nothing here may phone home: this machine reaches package registries only.
export SAM_CLI_TELEMETRY=0 SCHEMATHESIS_TELEMETRY=false

# Each step with the seconds since the script started, so a slow step shows.
say() { printf '==> [%4ss] %s\n' "$SECONDS" "$*" >&2; }

source "$ROOT/tools/stack.sh"

# The Rust toolchain rust-toolchain.toml pins: rustup installs it where it can; a machine whose
# stable toolchain is that very version (with no way to download another) gets it linked.
ensure_toolchain() {
    local want home host
    want="$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$ROOT/rust-toolchain.toml")"
    if rustup toolchain list | grep -q "^$want-"; then
        return 0
    fi
    if [ "$(rustc +stable --version 2>/dev/null | cut -d' ' -f2)" = "$want" ]; then
        say "the stable toolchain is Rust $want: linking it under that name (rust-toolchain.toml)"
        home="${RUSTUP_HOME:-$HOME/.rustup}"
        host="$(rustc +stable -vV | sed -n 's/^host: //p')"
        ln -s "$home/toolchains/stable-$host" "$home/toolchains/$want-$host"
    else
        say "installing Rust $want (rust-toolchain.toml)"
        rustup toolchain install "$want" --profile minimal --component rustfmt,clippy
    fi
}
ensure_toolchain

# The Python tools (cargo-lambda, moto), pinned, in a venv inside the project (ignored by git).
install_tools() {
    local stamp="$VENV/.installed" want
    want="$(cat "$ROOT/tools/requirements.txt" "$ROOT/tools/constraints.txt" | sha256sum | cut -d' ' -f1)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "installing cargo-lambda and moto into .tools/venv (pinned)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        -r "$ROOT/tools/requirements.txt" -c "$ROOT/tools/constraints.txt"
    echo "$want" > "$stamp"
}

# Headless Chromium for the browser tests (tests/browser): Debian's package, driven by the pinned
# Playwright (whose own browser download is never used). Installed with apt-get where this user
# may; otherwise a clear stop, never a silent skip. Sets CHROMIUM.
install_chromium() {
    mkdir -p "$LOCAL"
    CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
    if [ -z "$CHROMIUM" ] && command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
        say "installing Debian's chromium (and fonts for Korean) with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk > "$LOCAL/apt-chromium.log" 2>&1 ||
            { apt-get update -q > /dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk > "$LOCAL/apt-chromium.log" 2>&1; } ||
            true
        CHROMIUM="$(command -v chromium || true)"
    fi
    if [ -z "$CHROMIUM" ]; then
        say "the browser tests need Chromium: install Debian's package (sudo apt-get install chromium fonts-noto-cjk)"
        say "or set CHROMIUM to a Chromium or Chrome binary; see the README's prerequisites"
        exit 1
    fi
    export CHROMIUM
}

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something answers HTTP on $1 (a URL), for at most $2 seconds.
wait_for_http() {
    local url="$1" seconds="${2:-30}" i
    for ((i = 0; i < seconds * 10; i++)); do
        if curl -s -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    say "nothing answered at $url after ${seconds}s"
    return 1
}

# Dummy credentials and the local endpoint: the SDK must never look for real AWS ones. The same
# moto server answers SES v2 too (moto dispatches by service): the SES mailer's tests use it.
use_local_dynamodb() {
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
    export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$1"
    export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$1"
    export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION="${AWS_REGION:-us-east-1}"
    unset AWS_PROFILE AWS_SESSION_TOKEN
}

# Starts moto's DynamoDB server (one request at a time, see tools/dynamodb_server.py) on
# 127.0.0.1:$1 as a service of the stack (tools/stack.sh); $2 names the setting that chose the
# port, for the message if it is taken.
start_dynamodb() {
    local port="$1" setting="${2:-the DynamoDB server}"
    require_free_port "$port" "$setting" || return 1
    stack_service "$LOCAL/dynamodb-$port.log" python "$ROOT/tools/dynamodb_server.py" 127.0.0.1 "$port"
    wait_for_http "http://127.0.0.1:$port" 30
}

# The signing key files of $1 (HS256 or ES256) in the folder $2, made on first use: the current
# key and, after a rotation, the previous one. Exports JWT_SIGNING_KEY_FILE and
# JWT_PREVIOUS_SIGNING_KEY_FILE, which the functions read (and read again while warm, every
# JWT_KEY_REFRESH_SECONDS), and the tests too. Never committed (.local/ is ignored by git).
use_signing_key_files() {
    local algorithm="$1" dir="$2" current
    case "$algorithm" in
        HS256) current="$dir/jwt-signing-key" ;;
        ES256) current="$dir/jwt-signing-key-es256.pem" ;;
        *) say "JWT_ALGORITHM must be HS256 or ES256, not '$algorithm'"; return 2 ;;
    esac
    mkdir -p "$dir"
    if [ ! -s "$current" ]; then
        new_signing_key "$algorithm" "$current"
    fi
    export JWT_ALGORITHM="$algorithm"
    export JWT_SIGNING_KEY_FILE="$current" JWT_PREVIOUS_SIGNING_KEY_FILE="$current.previous"
    unset JWT_SIGNING_KEY JWT_PUBLIC_KEYS JWT_PUBLIC_KEYS_FILE
    if [ "$algorithm" = ES256 ]; then
        # What the functions that only verify read, instead of the private key.
        export JWT_PUBLIC_KEYS_FILE="$dir/jwt-public-keys.json"
        publish_public_keys "$current" "$current.previous"
    fi
}

# Writes a new key of $1 to the file $2, readable by its owner only, in one rename (a function
# reading it meanwhile sees the old key or the new one, never half of one).
new_signing_key() {
    local algorithm="$1" file="$2"
    (umask 077 && "$ROOT/target/debug/account-admin" new-signing-key "$algorithm" > "$file.new")
    mv -f "$file.new" "$file"
}

# Rotates the key files JWT_SIGNING_KEY_FILE and JWT_PREVIOUS_SIGNING_KEY_FILE name: the current
# key becomes the previous one (tokens it signed keep working until they expire), a new key the
# current one (new tokens carry its kid). The key it replaces as previous is gone.
rotate_signing_key_files() {
    local current="$JWT_SIGNING_KEY_FILE" previous="$JWT_PREVIOUS_SIGNING_KEY_FILE"
    new_signing_key "$JWT_ALGORITHM" "$current.next"
    if [ "$JWT_ALGORITHM" = ES256 ]; then
        # The new public key is published before it signs anything (as rotate-signing-key does
        # on AWS): a verifier never meets a key id it does not know.
        publish_public_keys "$current.next" "$current"
        # Every verifier reads the new key set before anything signs with the new key: the
        # functions re-read their keys every JWT_KEY_REFRESH_SECONDS (10 under make dev).
        sleep "${JWT_KEY_REFRESH_SECONDS:-10}"
    fi
    (umask 077 && cp "$current" "$previous.new")
    mv -f "$previous.new" "$previous"
    mv -f "$current.next" "$current"
}

# The JWK Set of the public halves of the key files $1 (current) and $2 (previous, if it exists),
# written whole (a reader never sees half of it) to $JWT_PUBLIC_KEYS_FILE.
publish_public_keys() {
    local previous=()
    [ -s "$2" ] && previous=("$2")
    "$ROOT/target/debug/account-admin" public-keys "$1" "${previous[@]}" > "$JWT_PUBLIC_KEYS_FILE.new"
    mv -f "$JWT_PUBLIC_KEYS_FILE.new" "$JWT_PUBLIC_KEYS_FILE"
}

# The Rust target Lambda's arm64 functions are built for (cargo lambda links it through zig).
ensure_arm64_target() {
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        say "adding the aarch64-unknown-linux-gnu target (once)"
        rustup target add aarch64-unknown-linux-gnu
    fi
}

# For `make deploy` / `make delete`: the pinned SAM CLI installed, and $1 checked to be an
# environment of samconfig.toml; prints it.
sam_environment() {
    install_tools
    case "$1" in
        default | dev | prod) echo "$1" ;;
        *) say "ENV must be dev or prod (the environments of samconfig.toml), not '$1'"; return 2 ;;
    esac
}

# Builds every function of template.yaml for arm64 Lambda in one cargo run: the functions share
# every dependency, and cargo compiles the function crates side by side on all cores. `sam build`
# then runs `cargo lambda build` per function, finds each fresh and only copies its bootstrap.
build_functions_for_lambda() {
    local functions=() packages=() name
    mapfile -t functions < <(sed -n 's/^ *CodeUri: *functions\/\([A-Za-z0-9_-]*\) *$/\1/p' "$ROOT/template.yaml")
    [ "${#functions[@]}" -gt 0 ] || { say "no function CodeUri found in template.yaml"; return 1; }
    for name in "${functions[@]}"; do packages+=(--package "$name"); done
    say "cargo lambda build --release --arm64 (${#functions[@]} functions: ${functions[*]}; one build)"
    cargo lambda build --release --arm64 "${packages[@]}"
}

# A venv of its own in $1 holding the packages pinned in the requirements file $2 (once per
# version of that file; $3, a program it must hold, is the check that it is whole; $4 names it).
install_pinned_venv() {
    local venv="$1" requirements="$2" program="$3" name="$4" stamp="$1/.installed" want
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [ -x "$venv/bin/$program" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "installing $name into ${venv#"$ROOT"/} (pinned)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
}

# locust, for `make load`, pinned with everything it pulls in (tools/load/requirements.txt), in a
# venv of its own: its web stack must not move the versions moto and schemathesis were tested with.
LOAD_VENV="$TOOLS/load-venv"
install_load_tools() {
    install_pinned_venv "$LOAD_VENV" "$ROOT/tools/load/requirements.txt" locust locust
}

# dynalite (npm), pinned by tools/dynalite/package-lock.json, into .tools/dynalite.
install_dynalite() {
    install_npm_tool dynalite "dynalite"
}

# jose, the Node.js JWT library tools/check_consumers.py verifies the stack's tokens with.
install_consumers() {
    install_npm_tool consumers "jose"
}

# Installs the pinned packages of tools/$1/package-lock.json into .tools/$1 (once per lock file).
install_npm_tool() {
    local dir="$TOOLS/$1" want
    want="$(sha256sum "$ROOT/tools/$1/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$dir/.installed" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "installing $2 into .tools/$1 (pinned)"
    mkdir -p "$dir"
    cp "$ROOT/tools/$1/package.json" "$ROOT/tools/$1/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
    echo "$want" > "$dir/.installed"
}


# The stack `make test`, `make test-browser` and `make fuzz-api` test, on free ports, as services
# of the stack (the caller has run stack_begin and set its traps, removing
# "$LOCAL"/test-keys-$$-* on exit): DynamoDB (moto) with a fresh table, then the API.
# $1 names the emulator's log in .local/, $2 is the token algorithm (HS256, the default, or ES256).
start_test_stack() {
    start_test_dynamodb
    start_test_social_providers
    start_test_api "$1" "${2:-HS256}"
}

# The social-login providers of a test stack: the local OpenID Connect provider (tools/oidc) on a
# free port as "google" and "kakao", its Naver fake as "naver", and their client secrets in a file
# of this run. Extra redirect URIs its clients accept: $SOCIAL_REDIRECT_URIS (the browser test's).
start_test_social_providers() {
    local port
    port="$(free_port)"
    say "OpenID Connect provider (oidc-provider, tools/oidc) on 127.0.0.1:$port: google, kakao, and naver's fake"
    # shellcheck disable=SC2086 # one word a URI
    start_oidc_provider "$port" ${SOCIAL_REDIRECT_URIS:-}
    use_local_social_providers "http://127.0.0.1:$port" "$LOCAL/test-keys-$$-social-secrets.json"
    export E2E_SOCIAL_PROVIDER_URL="http://127.0.0.1:$port"
}

# Points the functions at the local provider at $1 (its clients, tools/oidc/README.md) and writes
# their client secrets to the file $2 (SOCIAL_CLIENT_SECRETS_FILE), readable by its owner only.
use_local_social_providers() {
    local base="$1" secrets="$2"
    export SOCIAL_PROVIDERS='{"google": {"client_id": "local-google-client", "issuer": "'"$base"'/google", "tokeninfo_endpoint": "'"$base"'/google-api/tokeninfo"}, "kakao": {"client_id": "local-kakao-client", "app_id": 424242, "issuer": "'"$base"'/kakao", "api_base": "'"$base"'/kakao-api"}, "naver": {"client_id": "local-naver-client", "token_endpoint": "'"$base"'/naver/oauth2.0/token", "profile_endpoint": "'"$base"'/naver/v1/nid/me"}}'
    (umask 077 && printf '{"google": "local-google-secret", "kakao": "local-kakao-secret", "naver": "local-naver-secret"}\n' > "$secrets")
    export SOCIAL_CLIENT_SECRETS_FILE="$secrets"
}

start_test_dynamodb() {
    local dynamodb_port credentials
    dynamodb_port="$(free_port)"
    say "DynamoDB (moto) on 127.0.0.1:$dynamodb_port, IAM enforced: each function runs under the policy template.yaml gives it"
    require_free_port "$dynamodb_port" "the DynamoDB server"
    # moto with its IAM enforcement on from the first request, DynamoDB authorised as AWS does
    # (tools/iam_enforce.py): a call the template does not grant a function fails here as on AWS.
    stack_service "$LOCAL/dynamodb-$dynamodb_port.log" python "$ROOT/tools/iam_enforce.py" serve 127.0.0.1 "$dynamodb_port"
    wait_for_http "http://127.0.0.1:$dynamodb_port" 30
    use_local_dynamodb "$dynamodb_port"
    export TABLE_NAME="e2e-$(date +%s)"
    # One IAM user per function with exactly its expanded policy, and an admin for the tests.
    credentials="$LOCAL/iam-credentials-$dynamodb_port"
    python "$ROOT/tools/iam_enforce.py" "http://127.0.0.1:$dynamodb_port" "$TABLE_NAME" "$AWS_REGION" "$credentials" \
        --require-cargo-profiles > "$LOCAL/iam-users-$dynamodb_port.log"
    # Everything but the functions (account-admin, the store, white-box and faults tests) acts as
    # the admin; each function as itself (its AWS_PROFILE in Cargo.toml's per-binary env).
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    export AWS_SHARED_CREDENTIALS_FILE="$credentials" AWS_PROFILE=admin AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
    "$ROOT/target/debug/account-admin" create-table
}

# One route of each function (with its trailing slash), to wake them.
WAKE_ROUTES="join/ login/ logout/ token/refresh/ token/verify/ password/change/ mypage/ user/ user/delete/ sessions/ sessions/revoke-others/ .well-known/jwks.json
    password/reset/ password/reset/confirm/ join/verify-email/ join/resend-email/ events/ admin/users/ admin/users/1/
    admin/users/1/sign-out/ admin/users/1/password-reset/ admin/events/ social/google/ social/google/connect/
    socialaccounts/ socialaccounts/1/disconnect/"

# Wakes each function once (the emulator starts a function on its first request) through the
# API on port $1; $2 names its log, for the message if one does not start; the routes that
# follow, or else every function's (WAKE_ROUTES).
wake_functions() {
    local route ok status port="$1" log="$2" routes
    shift 2
    routes="${*:-$WAKE_ROUTES}"
    for route in $routes; do
        ok=""
        for _ in $(seq 1 600); do
            status="$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "http://127.0.0.1:$port/account/$route" || true)"
            if [ "$status" = "200" ]; then ok=1; break; fi
            sleep 0.2
        done
        [ -n "$ok" ] || { say "the $route function did not start; see $log"; exit 1; }
    done
}

# The API under cargo lambda watch (four instances per function), its tokens signed with $2 by
# throwaway key files for this run only, read again before every request
# (JWT_KEY_REFRESH_SECONDS=0), so a rotation reaches every instance at once. Returns once every
# function has answered, with STACK_API_URL, STACK_API_PORT and STACK_API_PID set.
start_test_api() {
    local api_port
    use_signing_key_files "$2" "$LOCAL/test-keys-$$-$2"
    export RUST_LOG="${RUST_LOG:-warn}"
    # The browser origins the functions answer CORS for (the e2e tests check both sides of it).
    export ALLOWED_ORIGINS="${STACK_ALLOWED_ORIGINS:-http://localhost:3000,http://localhost:9001}"
    # Mail goes to an outbox of this run's own, which the white-box end-to-end tests read to
    # follow the links. No answer floor: schemathesis' many resets would each wait it out (the
    # floor itself is checked by the handler tests, and measured at its default by make bench).
    export EMAIL_BACKEND=file EMAIL_OUTBOX_DIR="$LOCAL/outbox-$TABLE_NAME" EMAIL_ANSWER_FLOOR_MS=0
    # Addresses are verified (optional: join mails a link and still answers tokens), so resend and
    # the confirmation links have something to do; under `none` resend mails nothing.
    export EMAIL_VERIFICATION="${EMAIL_VERIFICATION:-optional}"
    export E2E_OUTBOX_DIR="$EMAIL_OUTBOX_DIR"
    api_port="$(free_port)"
    export JWT_ISSUER="http://127.0.0.1:$api_port/account" JWT_KEY_REFRESH_SECONDS=0
    say "cargo lambda watch on 127.0.0.1:$api_port ($2 tokens)"
    # --disable-cors: the functions answer OPTIONS themselves (the emulator would answer it first);
    # --concurrency 4: racing requests reach separate function instances, as on Lambda.
    # It runs in an empty folder: every function instance it starts sets up a file watcher over
    # the folder it runs in (even with --ignore-changes), which over the project (target/, .tools/:
    # ~13,000 folders) costs each instance about a second of CPU.
    stack_functions_on "$api_port"
    mkdir -p "$LOCAL/watch-root"
    # No AWS_PROFILE of its own: a function without its profile in Cargo.toml gets no credentials.
    stack_service "$LOCAL/$1.log" env --chdir "$LOCAL/watch-root" -u AWS_PROFILE \
        cargo lambda watch --manifest-path "$ROOT/Cargo.toml" -A 127.0.0.1 -P "$api_port" \
        --ignore-changes --disable-cors --concurrency 4
    STACK_API_PID="$SERVICE_PID"
    wait_for_http "http://127.0.0.1:$api_port/" 120

    wake_functions "$api_port" ".local/$1.log"
    STACK_API_PORT="$api_port"
    STACK_API_URL="http://127.0.0.1:$api_port"
}

# schemathesis (pinned in tools/requirements.txt) against the API at $1: openapi.yaml, with
# tools/schemathesis.toml and the credentials of tools/schemathesis_hooks.py. $2 names the run
# (its output goes to .local/schemathesis-$2.log, its JSON report beside it); the remaining
# arguments are the budget. Fails on any failed check, and prints the run's counts.
run_schemathesis() {
    local url="$1" name="$2" log report
    shift 2
    log="$LOCAL/schemathesis-$name.log"
    report="$LOCAL/schemathesis-$name.json"
    if ! PYTHONPATH="$ROOT/tools" SCHEMATHESIS_HOOKS=schemathesis_hooks \
        st --config-file "$ROOT/tools/schemathesis.toml" run "$ROOT/openapi.yaml" --url "$url" --no-color \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth \
        --report json --report-json-path "$report" "$@" > "$log" 2>&1; then
        tail -n 80 "$log"
        say "schemathesis failed; its whole output: .local/schemathesis-$name.log"
        return 1
    fi
    python "$ROOT/tools/schemathesis_summary.py" "$report" "$log" "$ROOT/openapi.yaml"
}

# The local OpenID Connect provider of the social-login tests (tools/oidc/: oidc-provider, pinned
# by its package-lock.json), installed into .tools/oidc once per lock file.
install_oidc_provider() {
    install_npm_tool oidc "oidc-provider"
}

# Starts tools/oidc/server.mjs on 127.0.0.1:$1 as a service of the stack (log .local/oidc-$1.log):
# the issuers http://127.0.0.1:$1/google and /kakao, the Kakao, Google and Naver API fakes and the
# /control/ routes (tools/oidc/README.md). The remaining arguments are redirect URIs its clients
# accept besides http://127.0.0.1/callback. Node resolves an ES module's imports from the folder
# the module is in (NODE_PATH does not apply to them), so server.mjs runs from a copy beside
# .tools/oidc/node_modules. Exports SOCIAL_PROVIDER_PORT once it answers.
start_oidc_provider() {
    local port="$1" uri args=()
    shift
    for uri in "$@"; do args+=(--redirect-uri "$uri"); done
    install_oidc_provider
    require_free_port "$port" "the OpenID Connect provider" || return 1
    mkdir -p "$LOCAL"
    cp "$ROOT/tools/oidc/server.mjs" "$TOOLS/oidc/server.mjs"
    stack_service "$LOCAL/oidc-$port.log" node "$TOOLS/oidc/server.mjs" --port "$port" "${args[@]}"
    wait_for_http "http://127.0.0.1:$port/control/health" 30 || return 1
    export SOCIAL_PROVIDER_PORT="$port"
}
