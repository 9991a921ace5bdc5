"""Times POST /account/password/reset/ for a registered address and for unknown ones, interleaved
(known, unknown, known, ...), through a running stack; prints a Markdown table. The answers must
be identical (status and body), or it fails.

Usage: python reset_timing.py API_URL KNOWN_EMAIL REQUESTS_EACH
"""

import json
import statistics
import sys
import time
import urllib.request
import uuid


def reset(api, email):
    request = urllib.request.Request(
        f"{api}/account/password/reset/",
        data=json.dumps({"email": email}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        status = response.status
    return (time.perf_counter() - started) * 1000, status, body


def main(api, known, count):
    # The first requests start each function instance: not timed.
    for _ in range(4):
        reset(api, known)
        reset(api, f"warm-{uuid.uuid4().hex}@example.com")
    times = {"known": [], "unknown": []}
    answers = set()
    for _ in range(count):
        for kind, email in (("known", known), ("unknown", f"nobody-{uuid.uuid4().hex}@example.com")):
            ms, status, body = reset(api, email)
            times[kind].append(ms)
            answers.add((status, body))
    if len(answers) != 1:
        sys.exit(f"reset_timing: the answers differ: {answers}")
    print(f"{count} requests each, interleaved; every answer {answers.pop()[0]} with the same body.")
    print()
    print("| address | median ms | p90 ms | min ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, values in times.items():
        values.sort()
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        print(f"| {kind} | {statistics.median(values):.1f} | {p90:.1f} | {values[0]:.1f} | {values[-1]:.1f} |")
    medians = [statistics.median(values) for values in times.values()]
    print()
    print(f"Median difference (known - unknown): {medians[0] - medians[1]:+.1f} ms.")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
