#!/usr/bin/env bash
# `make fuzz`: each cargo-fuzz target of fuzz/ (request bodies of every content type, tokens and
# bearer headers, the password validators) for FUZZ_SECONDS (default 120) under libFuzzer with
# AddressSanitizer; fails on the first crash, whose input lands in fuzz/artifacts/. CI runs it
# with FUZZ_SECONDS=10 as a smoke run. Corpora grow in fuzz/corpus/ (ignored by git).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
FUZZ_SECONDS="${FUZZ_SECONDS:-120}"
CARGO_FUZZ_VERSION=0.13.1
CARGO_FUZZ="$TOOLS/cargo/bin/cargo-fuzz"

if ! "$CARGO_FUZZ" --version 2> /dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS/cargo" --quiet
fi
# cargo-fuzz passes unstable flags (-Zsanitizer=address) to rustc; this machine has one stable
# toolchain, which accepts them when RUSTC_BOOTSTRAP is set, for these builds only.
export RUSTC_BOOTSTRAP=1
cd fuzz
say "building the fuzz targets (release, AddressSanitizer)"
"$CARGO_FUZZ" build -O
for target in request_body token password; do
    say "fuzzing $target for ${FUZZ_SECONDS}s"
    log="$LOCAL/fuzz-$target.log"
    mkdir -p "$LOCAL"
    if ! "$CARGO_FUZZ" run -O "$target" -- -max_total_time="$FUZZ_SECONDS" > "$log" 2>&1; then
        tail -n 40 "$log"
        say "$target crashed: the input is in fuzz/artifacts/$target/"
        exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$log" | sed "s/^/  $target: /"
done
