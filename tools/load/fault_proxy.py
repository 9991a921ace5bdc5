"""A fault-injecting proxy between the functions and the local DynamoDB server, for `make load`.

It forwards DynamoDB's HTTP/1.1 requests one by one (each on a fresh connection upstream) and,
while a fault of its schedule is on, does to them what a sick network or a throttled table
does:

- latency: every request waits before it is forwarded;
- reset: some connections are reset (RST), half before the request reaches the server, half
  after it was carried out (the answer is lost, the write stands);
- blackhole: requests are held unanswered until the window ends, then reset;
- throttle: some requests get DynamoDB's 400 `ThrottlingException` or
  `ProvisionedThroughputExceededException` without reaching the server;
- error500: some get DynamoDB's 500 `InternalServerError`, half after being carried out.

No toxiproxy: its server is not in Debian's packages nor on PyPI or npm (only its clients), and
it cannot answer at the HTTP level (throttling), which this must. The schedule starts when the
load does (`GET /start?seconds=N` on the control port) and repeats a cycle of at most 120 s over
the run; every window is written to the windows file as it opens and closes, with the counts of
what it did, so the checks can tell a fault's 503 from any other.

Usage: python fault_proxy.py LISTEN_PORT UPSTREAM_PORT CONTROL_PORT WINDOWS_FILE
"""

import asyncio
import json
import random
import socket
import struct
import sys
import time
import urllib.parse

# The schedule, as fractions of a cycle: (start, end, fault, rate). A cycle is the whole run, or
# 120 s if the run is longer; the blackhole is capped at 5 s (a few seconds of a dead network).
CYCLE = [
    (0.12, 0.22, "latency", 1.0),
    (0.28, 0.38, "reset", 0.15),
    (0.44, 0.49, "blackhole", 1.0),
    (0.55, 0.65, "throttle", 0.3),
    (0.71, 0.81, "error500", 0.2),
]
MAX_CYCLE_SECONDS = 120.0
MAX_BLACKHOLE_SECONDS = 5.0
LATENCY_SECONDS = 0.3

THROTTLING = (
    "ThrottlingException",
    "Rate of requests exceeds the allowed throughput.",
)
PROVISIONED = (
    "ProvisionedThroughputExceededException",
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API.",
)


class Schedule:
    def __init__(self, windows_file):
        self.windows_file = windows_file
        self.windows = []  # (start, end, fault, rate), wall clock
        self.counts = {}  # window start -> {what: how many}
        self.started = False

    def start(self, seconds):
        now = time.time()
        cycle = min(seconds, MAX_CYCLE_SECONDS)
        at = 0.0
        while at < seconds:
            for begin, end, fault, rate in CYCLE:
                start = now + at + begin * cycle
                stop = now + at + end * cycle
                if fault == "blackhole":
                    stop = min(stop, start + MAX_BLACKHOLE_SECONDS)
                if stop <= now + seconds:
                    self.windows.append((start, stop, fault, rate))
            at += cycle
        self.started = True
        asyncio.get_running_loop().create_task(self._record())

    def current(self):
        """The window on now, as (its start, fault, rate, end), or Nones."""
        now = time.time()
        for start, stop, fault, rate in self.windows:
            if start <= now < stop:
                return start, fault, rate, stop
        return None, None, 0.0, None

    def count(self, window, what):
        """Counts what the window that decided it did (a request may finish after it closed)."""
        did = self.counts.setdefault(window, {})
        did[what] = did.get(what, 0) + 1

    async def _record(self):
        """Writes each window once it has closed, with what it did."""
        for start, stop, fault, rate in self.windows:
            # A request held or delayed to the window's end is counted by then.
            await asyncio.sleep(max(0.0, stop - time.time()) + LATENCY_SECONDS)
            done = self.counts.pop(start, {})
            with open(self.windows_file, "a") as out:
                out.write(json.dumps({"fault": fault, "rate": rate, "start": start, "end": stop, "did": done}) + "\n")


async def read_message(reader):
    """One HTTP/1.1 message (headers and a Content-Length or chunked body), as bytes, or None
    at end of stream."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += size_line + chunk
            if size == 0:
                break
    return head, headers, body


def dynamodb_error(status, kind, message):
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message}).encode()
    reason = {400: "Bad Request", 500: "Internal Server Error"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"x-amzn-RequestId: fault-{random.getrandbits(64):016x}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def reset(writer):
    """Closes the connection with a TCP reset, as a dropped connection looks to the client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def forward(upstream_port, head, body):
    """Sends the request upstream on a connection of its own and returns the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer_head, headers, answer_body = await read_message(reader)
        return answer_head, headers, answer_body
    finally:
        writer.close()


def proxy_handler(schedule, upstream_port):
    async def handle(reader, writer):
        try:
            while True:
                try:
                    head, headers, body = await read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                window, fault, rate, until = schedule.current()
                hit = fault is not None and random.random() < rate
                if hit and fault == "latency":
                    schedule.count(window, "delayed")
                    await asyncio.sleep(LATENCY_SECONDS)
                elif hit and fault == "blackhole":
                    schedule.count(window, "held")
                    await asyncio.sleep(max(0.0, until - time.time()))
                    reset(writer)
                    return
                elif hit and fault == "throttle":
                    kind, message = random.choice([THROTTLING, PROVISIONED])
                    schedule.count(window, kind)
                    writer.write(dynamodb_error(400, kind, message))
                    await writer.drain()
                    continue
                lose_answer = hit and fault in ("reset", "error500") and random.random() < 0.5
                if hit and fault == "reset" and not lose_answer:
                    schedule.count(window, "reset_before")
                    reset(writer)
                    return
                if hit and fault == "error500" and not lose_answer:
                    schedule.count(window, "500_before")
                    writer.write(dynamodb_error(500, "InternalServerError", "Internal server error"))
                    await writer.drain()
                    continue
                answer_head, answer_headers, answer_body = await forward(upstream_port, head, body)
                if lose_answer and fault == "reset":
                    schedule.count(window, "reset_after")
                    reset(writer)
                    return
                if lose_answer:
                    schedule.count(window, "500_after")
                    writer.write(dynamodb_error(500, "InternalServerError", "Internal server error"))
                    await writer.drain()
                    continue
                writer.write(answer_head + answer_body)
                await writer.drain()
                if answer_headers.get(b"connection", b"").lower() == b"close":
                    writer.close()
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    return handle


def control_handler(schedule):
    """`GET /start?seconds=N` starts the schedule (once); any other path answers its state."""

    async def handle(reader, writer):
        try:
            line = await reader.readline()
            await reader.readuntil(b"\r\n\r\n")
            target = line.split(b" ")[1].decode()
            url = urllib.parse.urlparse(target)
            if url.path == "/start" and not schedule.started:
                seconds = float(urllib.parse.parse_qs(url.query)["seconds"][0])
                schedule.start(seconds)
            body = json.dumps({"started": schedule.started, "windows": len(schedule.windows)}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n")
            writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, IndexError, KeyError, ValueError):
            pass
        finally:
            writer.close()

    return handle


async def main(listen_port, upstream_port, control_port, windows_file):
    schedule = Schedule(windows_file)
    open(windows_file, "w").close()
    proxy = await asyncio.start_server(proxy_handler(schedule, upstream_port), "127.0.0.1", listen_port)
    control = await asyncio.start_server(control_handler(schedule), "127.0.0.1", control_port)
    async with proxy, control:
        await asyncio.gather(proxy.serve_forever(), control.serve_forever())


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
