#!/usr/bin/env bash
# `make invoke`: every sample event of events/ to its function on the running local stack
# (`make dev` in another terminal, API_PORT), events with token placeholders with the real
# tokens of an account made for each (tools/invoke.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_tools
python3 "$ROOT/tools/invoke.py" "${API_PORT:-9000}"
