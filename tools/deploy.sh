#!/usr/bin/env bash
# `make deploy ENV=dev|prod` (default dev): the template checked (`sam validate --lint`), the sixteen
# functions built for arm64 Lambda (`sam build`, cargo lambda through zig, no Docker), then
# `sam deploy` with that environment's settings from samconfig.toml (stack name, parameters;
# prod shows the change set and waits for a yes). Uses the pinned SAM CLI in .tools/venv and
# your AWS credentials and region (AWS_PROFILE, AWS_REGION, ~/.aws/config).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ENV="$(sam_environment "${ENV:-dev}")"

ensure_arm64_target
say "sam validate --lint ($ENV)"
sam validate --lint --config-env "$ENV"
build_functions_for_lambda
say "sam build ($ENV: arm64, release: copies the functions built above)"
sam build --config-env "$ENV"
say "sam deploy ($ENV)"
sam deploy --config-env "$ENV"
say "deployed: clients call <ApiUrl>account/login/ (ApiUrl above); check it with: make smoke API_URL=<ApiUrl>"
