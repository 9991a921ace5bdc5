#!/usr/bin/env bash
# `make bench-social`: what a social login costs, beside a password login — the release
# social-login and login binaries run as Lambda runs them (bench/src/bin/social-cost.rs), against
# the local OpenID provider (tools/oidc) and the local DynamoDB, each on a free port: the first
# answer after spawn and warm answers, with the provider's and DynamoDB's requests counted.
# SOCIAL_RUNS cold starts (10), SOCIAL_WARM warm sign-ins in all (50). Prints Markdown.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_tools
install_oidc_provider

say "release builds (social-login, login, join, the bench harness, account-admin)"
cargo build --release --quiet --bins -p social-login -p login -p join -p account-admin
cargo build --release --quiet -p bench --bin social-cost

stack_begin
trap 'stack_end; rm -f "$LOCAL"/bench-social-secrets-$$.json' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
dynamodb_port="$(free_port)"
start_dynamodb "$dynamodb_port"
use_local_dynamodb "$dynamodb_port"
export TABLE_NAME="bench-social-$(date +%s)"
"$ROOT/target/release/account-admin" create-table > /dev/null
provider_port="$(free_port)"
start_oidc_provider "$provider_port"
use_local_social_providers "http://127.0.0.1:$provider_port" "$LOCAL/bench-social-secrets-$$.json"

say "social-cost: ${SOCIAL_RUNS:-10} cold starts and ${SOCIAL_WARM:-50} warm sign-ins per case"
SOCIAL_PROVIDER_URL="http://127.0.0.1:$provider_port" SOCIAL_PROVIDER_LOG="$LOCAL/oidc-$provider_port.log" \
    DYNAMODB_LOG="$LOCAL/dynamodb-$dynamodb_port.log" \
    target/release/social-cost target/release "${SOCIAL_RUNS:-10}" "${SOCIAL_WARM:-50}"
