"""CPU per request of the function processes, as Lambda bills them: the whole process (runtime
loop, event parsing, the handler, the SDK's HTTP), not the handler alone.

Starts `make dev PROFILE=release` (tools/dev.sh) on free ports with one instance per function,
makes an account, warms each route up, then sends N requests one after another to mypage and N
to token/refresh (each with the refresh token the previous one returned: rotation is on) and
reads the user + system time of that route's function processes from /proc before and after.
N is large enough that the clock tick (10 ms) is under 1% of what is measured.

Usage: cpu_per_request.py [N (2000)]. Prints one Markdown table row per route.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "Tutorial-Pw!7319"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base, method, path, body=None, bearer=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if bearer:
        request.add_header("authorization", f"Bearer {bearer}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read())


def function_cpu_seconds(api_port, function):
    """User + system seconds of every process of `function` on this stack (all its instances)."""
    runtime = f"AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:{api_port}/.rt/{function}".encode()
    total = 0
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if runtime not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def measure(api_port, function, requests, send):
    before = function_cpu_seconds(api_port, function)
    started = time.monotonic()
    for _ in range(requests):
        send()
    wall = time.monotonic() - started
    cpu = function_cpu_seconds(api_port, function) - before
    return cpu * 1000 / requests, wall * 1000 / requests


def main(requests):
    api_port, dynamodb_port = free_port(), free_port()
    env = dict(os.environ, API_PORT=str(api_port), DYNAMODB_PORT=str(dynamodb_port), PROFILE="release",
               CONCURRENCY="1", RUST_LOG="warn", TABLE_NAME="cpu-per-request")
    log = ROOT / ".local" / "cpu-per-request-dev.log"
    log.parent.mkdir(exist_ok=True)
    with open(log, "w") as output:
        dev = subprocess.Popen([str(ROOT / "tools/dev.sh")], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        while "The account API is up" not in log.read_text(errors="replace"):
            if dev.poll() is not None:
                sys.exit(f"make dev ended before the API was up: {log}")
            time.sleep(0.2)
        base = f"http://127.0.0.1:{api_port}"
        email = f"cpu-{os.getpid()}@example.com"
        status, joined = call(base, "POST", "/account/join/",
                              {"email": email, "password1": PASSWORD, "password2": PASSWORD})
        assert status == 201, joined
        access, refresh = joined["access"], joined["refresh"]

        def mypage():
            status, _ = call(base, "GET", "/account/mypage/", bearer=access)
            assert status == 200

        def rotate():
            nonlocal refresh
            status, answer = call(base, "POST", "/account/token/refresh/", {"refresh": refresh})
            assert status == 200, answer
            refresh = answer["refresh"]

        for _ in range(50):  # warm-up: connections, caches, lazy initialisation
            mypage()
            rotate()
        print("| route | CPU ms per request | wall ms per request | requests |")
        print("| --- | ---: | ---: | ---: |")
        for function, send in (("mypage", mypage), ("refresh", rotate)):
            cpu, wall = measure(api_port, function, requests, send)
            print(f"| {function} | {cpu:.3f} | {wall:.2f} | {requests} |")
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=60)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
