"""`make dev` leaves nothing behind, however it is stopped (run by `make test`).

For each way a `make dev` ends in real life, this starts tools/dev.sh on free ports (in a
process group of its own, as a terminal's foreground job is), waits until the API answers and
two functions run, notes every process of the stack (the listeners on both ports, their process
groups, the function processes cargo lambda started in sessions of their own, the guard), stops
it that way, and then requires that within STOP_DEADLINE seconds no such process is left and
both ports are free again:

- Ctrl-C: SIGINT to the foreground group;
- TERM to the script, as `kill` does;
- a closed terminal: SIGHUP to the group;
- a supervisor's TERM followed a tenth of a second later by KILL of the group;
- the script alone killed with KILL (its traps never run: the guard must clean up).

Also: a second `make dev` on a port the first one holds refuses to start, says which port, and
leaves the first stack answering. Exit status 0 when every case passes; each is printed.
"""

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
START_DEADLINE = 300
STOP_DEADLINE = 30


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def status_of(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead; it only waits for its parent to read its status.
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def group_of(pid):
    """The process group of `pid`, or None if it ended since it was listed (any process of the
    machine may, between the listing and this call)."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def group_alive(pgid):
    return any(alive(int(p.name)) and group_of(int(p.name)) == pgid for p in processes())


def processes():
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            yield entry


def pids_where(predicate):
    found = []
    for entry in processes():
        try:
            if predicate(entry):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def function_pids(api_port):
    marker = f"AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:{api_port}/".encode()
    return pids_where(lambda entry: any(v.startswith(marker) for v in (entry / "environ").read_bytes().split(b"\0")))


def listener_pids(port):
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return sorted({int(part.split("=")[1].rstrip(",)")) for part in out.split() for part in part.split(",") if part.startswith("pid=")})


def signal_masks(pid):
    """SigIgn, SigBlk, SigCgt and SigPnd/ShdPnd of `pid` (as /proc shows them), and its state."""
    fields = dict(line.split(":\t", 1) for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":\t" in line)
    return {name: fields[name] for name in ("State", "SigIgn", "SigBlk", "SigCgt", "SigPnd", "ShdPnd")}


def ignored(pid, signum):
    return int(signal_masks(pid)["SigIgn"], 16) >> (signum - 1) & 1 == 1


def guard_pids(script_pid):
    state = f"stack-{script_pid}.state".encode()
    return pids_where(lambda entry: state in (entry / "cmdline").read_bytes())


class Stack:
    """One tools/dev.sh run on free ports."""

    def __init__(self, name, api_port=None):
        self.api_port = api_port or free_port()
        self.dynamodb_port = free_port()
        self.web_port = free_port()
        self.log = LOCAL / f"dev-stop-{name}.log"
        env = dict(os.environ, API_PORT=str(self.api_port), DYNAMODB_PORT=str(self.dynamodb_port),
                   WEB_PORT=str(self.web_port),
                   CONCURRENCY="2", TABLE_NAME=f"dev-stop-{name}", RUST_LOG="warn")
        self.output = open(self.log, "w")
        self.process = subprocess.Popen([str(ROOT / "tools/dev.sh")], cwd=ROOT, env=env, stdout=self.output,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_until_up(self):
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if "The account API is up" in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"dev.sh ended ({self.process.returncode}) before the API was up: {self.log}")
            time.sleep(0.2)
        raise AssertionError(f"the API was not up after {START_DEADLINE}s: {self.log}")

    def members(self):
        """Every process of the stack, as (description, pid) and the process groups."""
        pids = {self.process.pid: "dev.sh"}
        for port, what in ((self.api_port, "API listener"), (self.dynamodb_port, "DynamoDB listener"),
                           (self.web_port, "web listener")):
            for pid in listener_pids(port):
                pids[pid] = what
        for pid in function_pids(self.api_port):
            pids[pid] = "function"
        for pid in guard_pids(self.process.pid):
            pids[pid] = "guard"
        groups = {group_of(pid) for pid in pids if alive(pid)} - {None}
        return pids, groups

    def leftovers(self, pids, groups):
        left = [f"{what} {pid}" for pid, what in pids.items() if alive(pid)]
        left += [f"a process of group {group}" for group in groups if group_alive(group)]
        left += [f"function {pid}" for pid in function_pids(self.api_port) if pid not in pids]
        left += [f"port {port} still taken" for port in (self.api_port, self.dynamodb_port, self.web_port)
                 if not port_is_free(port)]
        return left

    def kill_everything(self):
        """Last resort after a failed case, so that one failure does not leak into the next."""
        pids, groups = self.members()
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass
        for pid in list(pids) + function_pids(self.api_port):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.output.close()


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def stop_and_check(name, stop):
    stack = Stack(slug(name))
    try:
        stack.wait_until_up()
        base = f"http://127.0.0.1:{stack.api_port}"
        # Two functions running, so that more than one function process must be stopped.
        for path in ("/account/mypage/", "/account/login/"):
            status = status_of(base + path, "OPTIONS")
            assert status == 200, f"OPTIONS {path}: {status}"
        # bash cannot trap a signal it was started with ignored: a case whose signal dev.sh
        # ignores would report a leak that no terminal or supervisor can cause.
        deaf = [sig.name for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if ignored(stack.process.pid, sig)]
        assert not deaf, f"dev.sh was started with {', '.join(deaf)} ignored (inherited from how this check was started)"
        pids, groups = stack.members()
        kinds = sorted(set(pids.values()))
        assert kinds == ["API listener", "DynamoDB listener", "dev.sh", "function", "guard", "web listener"], kinds
        started = time.monotonic()
        stop(stack.process)
        deadline = started + STOP_DEADLINE
        while time.monotonic() < deadline:
            stack.process.poll()
            left = stack.leftovers(pids, groups)
            if not left:
                print(f"check_dev_stop: {name}: {len(pids)} processes, all gone in {time.monotonic() - started:.1f}s")
                return True
            time.sleep(0.2)
        state = signal_masks(stack.process.pid) if alive(stack.process.pid) else "ended"
        print(f"check_dev_stop: {name}: left after {STOP_DEADLINE}s: {', '.join(left)} (dev.sh: {state}; log: {stack.log})")
        return False
    finally:
        stack.kill_everything()


def busy_port_is_refused():
    first = Stack("busy-first")
    try:
        first.wait_until_up()
        second = Stack("busy-second", api_port=first.api_port)
        try:
            code = second.process.wait(timeout=60)
        finally:
            # Only its own group: the listener on the shared port is the first stack's.
            if second.process.poll() is None:
                os.killpg(second.process.pid, signal.SIGKILL)
            second.output.close()
        said = second.log.read_text(errors="replace")
        if code == 0 or f"127.0.0.1:{first.api_port} is already in use" not in said or "API_PORT" not in said:
            print(f"check_dev_stop: busy port: the second dev.sh did not refuse clearly (exit {code}): {second.log}")
            return False
        if "The account API is up" in said:
            print("check_dev_stop: busy port: the second dev.sh announced an API it does not serve")
            return False
        status = status_of(f"http://127.0.0.1:{first.api_port}/account/mypage/")
        if status != 401:
            print(f"check_dev_stop: busy port: the first stack no longer answers ({status})")
            return False
        print(f"check_dev_stop: busy port: refused (exit {code}), naming 127.0.0.1:{first.api_port} and API_PORT")
        return True
    finally:
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(timeout=STOP_DEADLINE)
        first.kill_everything()


def term_then_kill(process):
    os.killpg(process.pid, signal.SIGTERM)
    time.sleep(0.1)  # a supervisor's patience: the traps have begun, not finished
    os.killpg(process.pid, signal.SIGKILL)


CASES = {
    "ctrl-c (INT to the group)": lambda process: os.killpg(process.pid, signal.SIGINT),
    "TERM to the script": lambda process: process.send_signal(signal.SIGTERM),
    "closed terminal (HUP to the group)": lambda process: os.killpg(process.pid, signal.SIGHUP),
    "supervisor (TERM, then KILL after 0.1 s)": term_then_kill,
    "script KILLed alone": lambda process: process.send_signal(signal.SIGKILL),
}


def main():
    # A shell starts a background job with SIGINT ignored, nohup (or a CI runner that detaches
    # a job the same way) starts it with SIGHUP ignored, and an ignored signal stays ignored
    # across exec: bash cannot even trap it. make test runs this check in the background, and the
    # Ctrl-C and closed-terminal cases would find a make dev that cannot hear them, as no make
    # dev in a terminal is. Handling both here gives the stacks it starts the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, lambda signum, frame: sys.exit(128 + signum))
    LOCAL.mkdir(exist_ok=True)
    results = [stop_and_check(name, stop) for name, stop in CASES.items()]
    results.append(busy_port_is_refused())
    passed = sum(results)
    print(f"check_dev_stop: {passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
