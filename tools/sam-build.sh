#!/usr/bin/env bash
# `make sam-build`: the deploy checks that need a build — `sam validate --lint` and `sam build`
# for arm64 Lambda (cargo lambda through zig, no Docker) — then each function's zipped size.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
install_tools
export SAM_CLI_TELEMETRY=0

ensure_arm64_target
say "sam validate --lint"
sam validate --lint
build_functions_for_lambda
say "sam build (arm64, release: copies the functions built above)"
sam build --beta-features

say "zipped bootstrap sizes (what Lambda receives)"
python3 - <<'PY'
import io, pathlib, zipfile
for bootstrap in sorted(pathlib.Path(".aws-sam/build").glob("*Function/bootstrap")):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(bootstrap, "bootstrap")
    size, zipped = bootstrap.stat().st_size / 2**20, len(buffer.getvalue()) / 2**20
    print(f"  {bootstrap.parent.name:<24} bootstrap {size:5.2f} MiB   zipped {zipped:5.2f} MiB")
PY
