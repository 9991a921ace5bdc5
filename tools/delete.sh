#!/usr/bin/env bash
# `make delete ENV=dev|prod` (default dev): `sam delete` of that environment's stack (name from
# samconfig.toml), with the pinned SAM CLI; it asks before deleting. Removed: the functions, the
# API and its stage, the alarms and their topic, every log group of the stack. Kept on purpose
# (DeletionPolicy Retain): the DynamoDB table and the signing-key secret, so a mistaken delete
# loses no user, and API Gateway's logging role if this stack created it (the region's API
# Gateway account setting keeps pointing at it; other APIs' logs depend on it). README's
# "Tearing down" says how to remove those by hand.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ENV="$(sam_environment "${ENV:-dev}")"

say "sam delete ($ENV)"
sam delete --config-env "$ENV"
