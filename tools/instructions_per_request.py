"""Instructions per request of each function binary, counted by valgrind's callgrind: the same
figure for the same binary and inputs whatever else the machine is doing, so two builds can be
compared on a busy machine where CPU time would drown a 10% change in noise.

Runs `target/release/cpu-per-request` (our Runtime API, the real binaries, a local DynamoDB) twice
with every function under callgrind, with N1 and N2 requests per route; the difference between
the two runs' totals, divided by N2 - N1, is the cost of one request with start-up and warm-up
taken out.

Usage: instructions_per_request.py [N1 (40)] [N2 (240)]   (needs AWS_ENDPOINT_URL_DYNAMODB and
release builds of the functions and of bench; `make bench` does both). Prints a Markdown table.
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
# The function binaries to count (BIN_DIR); the harness itself is always the release one.
import os as _os
BINARIES = pathlib.Path(_os.environ.get("BIN_DIR", RELEASE))
ROUTES = ("join", "login", "mypage", "refresh", "token-verify")
HASHING = {"join", "login"}


def totals(n, hashing_n):
    """Instructions of each binary's measured process in one run: {binary: Ir}."""
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, BENCH_WRAPPER=f"valgrind --tool=callgrind --callgrind-out-file={out}/%p.out")
        subprocess.run(
            [RELEASE / "cpu-per-request", BINARIES, str(n), str(hashing_n)],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        found = {}
        for path in pathlib.Path(out).glob("*.out"):
            text = path.read_text(errors="replace")
            command = re.search(r"^cmd:\s+(\S+)", text, re.MULTILINE)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
            if not command or not total:
                continue
            binary = pathlib.Path(command.group(1)).name
            # login runs twice (the measured run, then one login for the other routes' tokens):
            # the measured one is the larger.
            found[binary] = max(found.get(binary, 0), int(total.group(1)))
        return found


def main():
    n1 = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    n2 = int(sys.argv[2]) if len(sys.argv) > 2 else 240
    hashing1, hashing2 = max(1, n1 // 20), max(2, n2 // 20)
    first, second = totals(n1, hashing1), totals(n2, hashing2)
    print("| route | instructions per request (millions) |")
    print("| --- | ---: |")
    for binary in ROUTES:
        extra = (hashing2 - hashing1) if binary in HASHING else (n2 - n1)
        per_request = (second[binary] - first[binary]) / extra
        print(f"| {binary} | {per_request / 1e6:.3f} |")
    print()
    print(f"callgrind, {n1} and {n2} requests per route ({hashing1} and {hashing2} for join and login).")


if __name__ == "__main__":
    main()
