"""CPU per request of the function processes, as Lambda bills them (the whole process: runtime
loop, event parsing, the handler, the SDK's HTTP), optionally side by side with a reference
server that speaks the same HTTP contract (the Django tutorial's backend) in the same run.

Starts `make dev PROFILE=release` (tools/dev.sh) on free ports with one instance per function,
makes an account, warms each route up, then sends requests one after another and reads the user
+ system time of that route's function processes from /proc before and after: N to mypage and
N to token/refresh (each presenting the refresh token the previous answer returned), and
HASHING_N logins and joins, whose figure is set beside one raw Argon2id verify and hash timed by
`target/release/argon2-time` in the same run. N is large enough that the 10 ms clock tick is
under 1% of what is measured. Each route runs in five rounds, the servers taking turns, and the
median round is reported.

With --reference URL PID the same requests go to the server at URL too (routes under /account/,
as the contract), and its CPU is that of process PID and all its descendants (a gunicorn master
and its workers). Routes alternate between the two servers so both see the same machine.

Usage: cpu_per_request.py [N (2000)] [HASHING_N (100)] [--reference URL PID]
Prints a Markdown table.
"""

import argparse
import json
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "Tutorial-Pw!7319"
ROUNDS = 5


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base, method, path, body=None, bearer=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if bearer:
        request.add_header("authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(errors="replace")


def process_usage(pid):
    """(CPU ticks, minor page faults) of one process so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[7])  # utime + stime, minflt (stat's 14, 15, 10)


def processes():
    """{pid: (ppid, environ bytes or None)} of every process we can read."""
    found = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        found[int(entry.name)] = (ppid, environ)
    return found


def usage(pids):
    """(CPU seconds, minor page faults) of these processes together."""
    ticks = faults = 0
    for pid in pids:
        try:
            cpu, minflt = process_usage(pid)
        except OSError:
            continue  # ended between listing and reading: nothing of ours ends mid-run
        ticks, faults = ticks + cpu, faults + minflt
    return ticks / TICKS, faults


class Ours:
    """The functions of one route on our stack: every process whose Runtime API is that route's."""

    def __init__(self, base, api_port):
        self.base, self.api_port = base, api_port

    def usage(self, function):
        runtime = f"AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:{self.api_port}/.rt/{function}".encode()
        return usage(pid for pid, (_, environ) in processes().items() if runtime in environ.split(b"\0"))


class Reference:
    """A server and all its descendants, whatever route is measured."""

    def __init__(self, base, pid):
        self.base, self.pid = base, pid

    def usage(self, _function):
        table = processes()
        tree, grew = {self.pid}, True
        while grew:
            more = {pid for pid, (ppid, _) in table.items() if ppid in tree} - tree
            tree |= more
            grew = bool(more)
        return usage(tree)


class Client:
    """One account on one server and the four measured requests."""

    def __init__(self, server, tag):
        self.server, self.tag, self.joins = server, tag, 0
        self.email = f"cpu-{tag}-{os.getpid()}@example.com"
        status, joined = call(server.base, "POST", "/account/join/",
                              {"email": self.email, "password1": PASSWORD, "password2": PASSWORD})
        assert status == 201, joined
        self.access, self.refresh = joined["access"], joined["refresh"]

    def mypage(self):
        status, answer = call(self.server.base, "GET", "/account/mypage/", bearer=self.access)
        assert status == 200, answer

    def rotate(self):
        status, answer = call(self.server.base, "POST", "/account/token/refresh/", {"refresh": self.refresh})
        assert status == 200, answer
        self.refresh = answer.get("refresh") or self.refresh

    def login(self):
        status, answer = call(self.server.base, "POST", "/account/login/", {"email": self.email, "password": PASSWORD})
        assert status == 200, answer

    def join(self):
        self.joins += 1
        email = f"cpu-{self.tag}-{os.getpid()}-{self.joins}@example.com"
        status, answer = call(self.server.base, "POST", "/account/join/",
                              {"email": email, "password1": PASSWORD, "password2": PASSWORD})
        assert status == 201, answer


def measure(server, function, requests, send):
    """(CPU ms, wall ms, minor page faults) per request."""
    cpu_before, faults_before = server.usage(function)
    started = time.monotonic()
    for _ in range(requests):
        send()
    wall = time.monotonic() - started
    cpu_after, faults_after = server.usage(function)
    return (cpu_after - cpu_before) * 1000 / requests, wall * 1000 / requests, (faults_after - faults_before) / requests


def raw_argon2(runs):
    timer = ROOT / "target" / "release" / "argon2-time"
    if not timer.exists():
        return None
    hash_ms, verify_ms = subprocess.run([timer, str(runs)], check=True, capture_output=True, text=True).stdout.split()
    return float(hash_ms), float(verify_ms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requests", nargs="?", type=int, default=2000)
    parser.add_argument("hashing_requests", nargs="?", type=int, default=100)
    parser.add_argument("--reference", nargs=2, metavar=("URL", "PID"))
    options = parser.parse_args()

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
        clients = [("ours", Client(Ours(f"http://127.0.0.1:{api_port}", api_port), "ours"))]
        if options.reference:
            url, pid = options.reference
            clients.append(("reference", Client(Reference(url.rstrip("/"), int(pid)), "reference")))
        for _, client in clients:
            for _ in range(50):  # warm-up: connections, caches, lazy initialisation
                client.mypage()
                client.rotate()
            for _ in range(3):
                client.login()
                client.join()

        routes = (("mypage", "mypage", options.requests), ("token/refresh", "rotate", options.requests),
                  ("login", "login", options.hashing_requests), ("join", "join", options.hashing_requests))
        functions = {"mypage": "mypage", "token/refresh": "refresh", "login": "login", "join": "join"}
        # Each route in ROUNDS rounds, the servers taking turns within each, and the median
        # round reported: this VM's speed drifts by tens of percent over minutes, and a drift
        # then falls on both servers alike instead of on whichever ran during it.
        figures = {}
        for route, method, requests in routes:
            rounds = {name: [] for name, _ in clients}
            for _ in range(ROUNDS):
                for name, client in clients:
                    rounds[name].append(measure(client.server, functions[route], max(1, requests // ROUNDS),
                                                getattr(client, method)))
            for name, samples in rounds.items():
                figures[route, name] = tuple(statistics.median(sample[i] for sample in samples) for i in range(3))
        argon2 = raw_argon2(max(20, options.hashing_requests // 5))

        header = "| route | requests | ours: CPU ms / request | ours: wall ms | ours: page faults / request |"
        rule = "| --- | ---: | ---: | ---: | ---: |"
        if options.reference:
            header += " reference: CPU ms / request | reference: wall ms | reference CPU ÷ ours |"
            rule += " ---: | ---: | ---: |"
        if argon2:
            header += " ours ÷ raw Argon2 |"
            rule += " ---: |"
        print(header)
        print(rule)
        for route, _, requests in routes:
            cpu, wall, faults = figures[route, "ours"]
            row = f"| {route} | {requests} | {cpu:.3f} | {wall:.2f} | {faults:.0f} |"
            if options.reference:
                ref_cpu, ref_wall, _ = figures[route, "reference"]
                row += f" {ref_cpu:.3f} | {ref_wall:.2f} | {ref_cpu / cpu:.2f}× |"
            if argon2:
                raw = {"login": argon2[1], "join": argon2[0]}.get(route)
                row += f" {cpu / raw:.2f}× |" if raw else " |"
            print(row)
        if argon2:
            print(f"\nRaw Argon2id in the same run (target/release/argon2-time, median): hash {argon2[0]:.2f} ms, "
                  f"verify {argon2[1]:.2f} ms.")
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=60)


if __name__ == "__main__":
    main()
