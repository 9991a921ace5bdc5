# Shared by tools/dev.sh and tools/test.sh (sourced, not run): install the pinned local tools,
# start the local DynamoDB server, prepare the table and the development signing key.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
LOCAL="$ROOT/.local"
export PATH="$VENV/bin:$PATH"
# Nothing here may phone home: this machine reaches package registries only.
export SAM_CLI_TELEMETRY=0 SCHEMATHESIS_TELEMETRY=false

say() { printf '==> %s\n' "$*" >&2; }

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

# Dummy credentials and the local endpoint: the SDK must never look for real AWS ones.
use_local_dynamodb() {
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
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
    unset JWT_SIGNING_KEY
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
    (umask 077 && cp "$current" "$previous.new")
    mv -f "$previous.new" "$previous"
    new_signing_key "$JWT_ALGORITHM" "$current"
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

# dynalite (npm), pinned by tools/dynalite/package-lock.json, into .tools/dynalite.
install_dynalite() {
    local dir="$TOOLS/dynalite" want
    want="$(sha256sum "$ROOT/tools/dynalite/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$dir/.installed" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "installing dynalite into .tools/dynalite (pinned)"
    mkdir -p "$dir"
    cp "$ROOT/tools/dynalite/package.json" "$ROOT/tools/dynalite/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
    echo "$want" > "$dir/.installed"
}

