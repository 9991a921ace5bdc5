#!/usr/bin/env bash
# `make deploy ENV=dev|prod` (default dev): the template checked (`sam validate --lint`), every
# function built for arm64 Lambda (`sam build`, cargo lambda through zig, no Docker), then
# `sam deploy` with that environment's settings from samconfig.toml (stack name, parameters;
# prod shows the change set and waits for a yes). Uses the pinned SAM CLI in .tools/venv and
# your AWS credentials and region (AWS_PROFILE, AWS_REGION, ~/.aws/config).
#
# It fails loudly rather than ship a binary it did not just build (deploy review H2): SAM's build
# cache is off in every environment (samconfig.toml), every .aws-sam/build/*Function/bootstrap
# must be newer than this build's start (their sha256 recorded), and after `sam deploy` each
# deployed function's code is fetched back from Lambda and compared with that record
# (tools/deploy_verify.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ENV="$(sam_environment "${ENV:-dev}")"
# PARAMS='Key=Value ...' (make deploy PARAMS=...) overrides samconfig.toml's parameters one by one.
PARAMS="${PARAMS:-}"
say "checking the $ENV parameters (tools/predeploy_check.py)"
python tools/predeploy_check.py "$ENV" "$PARAMS"
OVERRIDES=()
if [ -n "$PARAMS" ]; then
    # `sam deploy --parameter-overrides` replaces samconfig's whole list: pass the merged one.
    OVERRIDES=(--parameter-overrides "$(python tools/predeploy_check.py --merged "$ENV" "$PARAMS")")
fi
STACK_NAME="$(python - "$ENV" <<'PY'
import sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))[sys.argv[1]]
print(config.get("deploy", {}).get("parameters", {}).get("stack_name") or config["global"]["parameters"]["stack_name"])
PY
)"

ensure_arm64_target
say "sam validate --lint ($ENV)"
sam validate --lint --config-env "$ENV"
# The build's start: cargo lambda writes each target/lambda/<name>/bootstrap anew on every build
# (cargo-lambda's copy_and_replace: a copy, so a new modification time) and SAM's rust-cargolambda
# builder copies it with shutil.copy2 (the time kept): a bootstrap older than this file was not
# built by this run.
BUILD_STARTED="$(mktemp "${TMPDIR:-/tmp}/account-api-build-started.XXXXXX")"
trap 'rm -f "$BUILD_STARTED"' EXIT
build_functions_for_lambda
say "sam build ($ENV: arm64, release: copies the functions built above; no build cache)"
sam build --config-env "$ENV"
python tools/deploy_verify.py record "$BUILD_STARTED" .aws-sam/build
say "sam deploy ($ENV, stack $STACK_NAME)"
sam deploy --config-env "$ENV" ${OVERRIDES[@]+"${OVERRIDES[@]}"}
say "checking that stack $STACK_NAME runs the bootstraps just built (Lambda GetFunction, each function)"
python tools/deploy_verify.py verify "$STACK_NAME" .aws-sam/bootstrap-sha256.json
say "deployed: clients call <ApiUrl>account/login/ (ApiUrl above); check it with: make smoke API_URL=<ApiUrl>"
