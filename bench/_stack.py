"""The production-style processes a benchmark starts on loopback, and what it reads of them.

daphne servers, a Celery worker and beat, a local webhook receiver, and the
CPU time and resident memory of each from /proc. Every process inherits the
bench's environment (django_stack in _db.py has set DATABASE_URL, REDIS_URL
and VAR_DIR by then).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    from escalation_project.embedded_redis import free_port as free

    return free()


def start_daphne(count: int, *, log: IO | None = None) -> tuple[list[subprocess.Popen], list[int]]:
    """`count` daphne processes on loopback ports, returned once each answers GET /healthz.

    `log`: where their stderr goes (an exception inside the app shows there only); else nowhere.
    """
    servers, ports = [], []
    for _ in range(count):
        port = free_port()
        servers.append(
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port),
                 "escalation_project.asgi:application"],
                cwd=ROOT,
                env=os.environ.copy(),
                stdout=subprocess.DEVNULL,
                stderr=log or subprocess.DEVNULL,
            )
        )  # fmt: skip
        ports.append(port)
    for server, port in zip(servers, ports, strict=True):
        wait_for_http(port, process=server)
    return servers, ports


def http_status(port: int, path: str) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None


def wait_for_http(port: int, *, process: subprocess.Popen | None = None, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while http_status(port, path) != 200:
        if time.monotonic() > deadline or (process is not None and process.poll() is not None):
            sys.exit(f"the server on port {port} did not come up")
        time.sleep(0.1)


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"nothing listens on port {port}")


def start_celery(role: str, *options: str, log: IO | None = None) -> subprocess.Popen:
    """`celery -A escalation_project <role> <options>` ("worker" or "beat")."""
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat"] if role == "worker" else []
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "escalation_project", role, "--loglevel=WARNING", *quiet,
         *options],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
    )  # fmt: skip


def stop(processes: list[subprocess.Popen], *, timeout: float = 15) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def purge_queue(queue: str) -> None:
    """Drop a bench's Celery queues (CELERY_QUEUE and its webhooks queue) and kombu's bindings
    for them from a shared Redis."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for name in (queue, f"{queue}-webhooks"):
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


# --- /proc -------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # ended meanwhile


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_bytes(pid: int) -> int:
    """Resident memory of the process now (VmRSS), 0 if it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _comm(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def postgres_cpu_seconds() -> float:
    """CPU time of the local PostgreSQL server so far: the postmaster, its live processes, and
    (cutime + cstime) the backends that have exited, which a sum over live processes would miss."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or _comm(proc.name) != "postgres":
            continue
        fields = _stat_fields(int(proc.name))
        if fields is None:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        if _comm(fields[1]) != "postgres":  # the postmaster: its parent is not a postgres process
            total += (int(fields[13]) + int(fields[14])) / ticks
    return total


# --- A webhook receiver ------------------------------------------------------------------


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers 204, or 500 for a `fail_rate` share of requests. With `secrets` (path -> endpoint
    secret) it verifies each signature with standardwebhooks, answers 400 to a bad one, and
    appends one JSON line per request to `record`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would offer
    fail_rate = 0.0
    secrets: dict[str, str] = {}
    record: IO | None = None
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        received = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, verified, event = 204, None, {}
        secret = self.secrets.get(self.path)
        if secret is not None:
            from standardwebhooks import Webhook
            from standardwebhooks.webhooks import WebhookVerificationError

            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                event = Webhook(secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified, status = False, 400
        if status == 204 and random.random() < self.fail_rate:
            status = 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if self.record is not None:
            line = {
                "webhook_id": self.headers.get("webhook-id"),
                "path": self.path,
                "at": received,
                "status": status,
                "verified": verified,
                "type": event.get("type"),
            }
            with self.lock:
                self.record.write(json.dumps(line) + "\n")
                self.record.flush()

    def log_message(self, *args) -> None:
        pass


def serve_receiver(
    port: int, *, fail_rate: float = 0.0, secrets_file: str = "", record_file: str = ""
) -> None:
    """Serve forever (call in a process of its own). `secrets_file`: JSON {path: secret}."""
    if secrets_file:
        Receiver.secrets = json.loads(Path(secrets_file).read_text())
    if record_file:
        Receiver.record = open(record_file, "a")  # noqa: SIM115 (open for the process's life)
    Receiver.fail_rate = fail_rate
    http.server.ThreadingHTTPServer.request_queue_size = 256
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()


def start_receiver(
    port: int, *, fail_rate: float = 0.0, secrets_file: str = "", record_file: str = ""
) -> subprocess.Popen:
    """The receiver in a process of its own (its own GIL: it must not slow the bench's clients)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "receiver", str(port), str(fail_rate), secrets_file, record_file], cwd=ROOT
    )
    wait_for_port(port)
    return process


if __name__ == "__main__" and sys.argv[1:2] == ["receiver"]:
    _, _, port, fail_rate, secrets_file, record_file = sys.argv
    serve_receiver(int(port), fail_rate=float(fail_rate), secrets_file=secrets_file, record_file=record_file)
