#!/usr/bin/env bash
# `make fuzz-api`: schemathesis against the local stack with a larger budget than `make test`
# gives it — FUZZ_API_EXAMPLES generated cases per operation and phase (default 100), the
# stateful phase repeating until FUZZ_API_SECONDS (default 600) are spent, a new seed each run
# unless FUZZ_API_SEED is set. The stack is the one `make test` starts (tools/lib.sh), on free
# ports, and everything is stopped on exit. Fails on any failed check; the output is in
# .local/schemathesis-fuzz-api.log, the JSON report beside it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
FUZZ_API_EXAMPLES="${FUZZ_API_EXAMPLES:-100}"
FUZZ_API_SECONDS="${FUZZ_API_SECONDS:-600}"
FUZZ_API_SEED="${FUZZ_API_SEED:-$RANDOM$RANDOM}"

install_tools
say "building functions"
cargo build --workspace --bins --quiet

stack_begin
# The throwaway key files of this run go with it.
trap 'stack_end; rm -rf "$LOCAL"/test-keys-$$-*' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

start_test_stack watch-fuzz-api
say "schemathesis: $FUZZ_API_EXAMPLES examples per operation, up to ${FUZZ_API_SECONDS}s, seed $FUZZ_API_SEED"
run_schemathesis "$STACK_API_URL" fuzz-api --seed "$FUZZ_API_SEED" \
    --max-examples "$FUZZ_API_EXAMPLES" --max-time "$FUZZ_API_SECONDS"
