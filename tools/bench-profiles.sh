#!/usr/bin/env bash
# Release profiles compared: each variant builds login, mypage and argon2-time into its own
# target folder (target/profiles/<n>); then the zipped size of the two functions, and Argon2's
# hash and verify times with the variants interleaved, round after round, so that the
# machine's drift falls on all of them alike. Prints a Markdown table on stdout
# (tools/bench.sh appends it to the results). Built for this machine (x86_64): the ranking
# carries over to arm64, whose sizes come from the arm64 builds. Each variant is a full
# optimised build, minutes each; a second run reuses them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ROUNDS="${ARGON2_ROUNDS:-7}"
RUNS="${ARGON2_RUNS:-15}"

# name | cargo --config overrides of [profile.release] (codegen-units = 1 and strip in all)
VARIANTS=(
    "opt 3, thin LTO, unwind|profile.release.opt-level=3 profile.release.lto=\"thin\" profile.release.panic=\"unwind\""
    "opt 3, fat LTO, abort|profile.release.opt-level=3 profile.release.lto=\"fat\" profile.release.panic=\"abort\""
    "opt s (argon2 3), fat LTO, abort|profile.release.opt-level=\"s\" profile.release.package.argon2.opt-level=3 profile.release.package.blake2.opt-level=3 profile.release.lto=\"fat\" profile.release.panic=\"abort\""
    "opt z (argon2 3), fat LTO, abort|profile.release.opt-level=\"z\" profile.release.package.argon2.opt-level=3 profile.release.package.blake2.opt-level=3 profile.release.lto=\"fat\" profile.release.panic=\"abort\""
    "opt s (argon2 3), no cross-crate LTO, abort (chosen)|profile.release.opt-level=\"s\" profile.release.package.argon2.opt-level=3 profile.release.package.blake2.opt-level=3 profile.release.lto=false profile.release.panic=\"abort\""
    "opt z (argon2 3), no cross-crate LTO, abort|profile.release.opt-level=\"z\" profile.release.package.argon2.opt-level=3 profile.release.package.blake2.opt-level=3 profile.release.lto=false profile.release.panic=\"abort\""
)

for index in "${!VARIANTS[@]}"; do
    variant="${VARIANTS[$index]}"
    read -r -a overrides <<< "${variant#*|}"
    config_args=()
    for override in "${overrides[@]}"; do config_args+=(--config "$override"); done
    say "profile: ${variant%%|*}"
    cargo build --release --quiet --target-dir "$ROOT/target/profiles/$index" "${config_args[@]}" \
        -p login -p mypage -p bench --bin login --bin mypage --bin argon2-time
done

say "Argon2 timings: $ROUNDS rounds of $RUNS hashes and verifies per profile, interleaved"
for ((round = 0; round < ROUNDS; round++)); do
    for index in "${!VARIANTS[@]}"; do
        echo "$index $("$ROOT/target/profiles/$index/release/argon2-time" "$RUNS")"
    done
done > "$ROOT/target/profiles/argon2-times.txt"

python3 - "$ROOT/target/profiles" "${VARIANTS[@]}" <<'PY'
import io, pathlib, statistics, sys, zipfile
root, names = pathlib.Path(sys.argv[1]), [v.split("|")[0] for v in sys.argv[2:]]
times = {i: ([], []) for i in range(len(names))}
for line in (root / "argon2-times.txt").read_text().split("\n"):
    if line.strip():
        index, hash_ms, verify_ms = line.split()
        times[int(index)][0].append(float(hash_ms))
        times[int(index)][1].append(float(verify_ms))
def zipped(path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(path, "bootstrap")
    return len(buffer.getvalue()) / 2**20
def spread(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
print("| profile | mypage zipped MiB | login zipped MiB | Argon2 hash ms, median (range of rounds) | verify ms |")
print("| --- | ---: | ---: | ---: | ---: |")
for i, name in enumerate(names):
    release = root / str(i) / "release"
    print(f"| {name} | {zipped(release / 'mypage'):.2f} | {zipped(release / 'login'):.2f} "
          f"| {spread(times[i][0])} | {spread(times[i][1])} |")
PY
