"""`manage.py runstack` end to end: the real processes, on the embedded defaults.

Runs what `make run` runs, in a fresh VAR_DIR on free ports, then stops it
with SIGINT and checks that nothing it started is left behind.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from escalation_project.embedded_redis import free_port
from escalation_project.env import redis_port_for
from tests.waiting import wait_until

# Migrating a fresh SQLite database alone took ~60 s on this 2-core machine under load 12-16.
READY_TIMEOUT = 180


class Stack:
    """runstack as a subprocess, its output collected as it comes."""

    def __init__(self, var_dir: Path, *, web_port: int | None = None, redis_port: int | None = 0) -> None:
        """redis_port None: EMBEDDED_REDIS_PORT unset, runstack chooses; 0: a free one, set."""
        self.var_dir = var_dir
        self.web_port = web_port or free_port()
        self.redis_port = redis_port
        while self.redis_port == 0 or self.redis_port == self.web_port:
            self.redis_port = free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            # CI's second run sets these for the suite; runstack must get the
            # embedded defaults: SQLite in VAR_DIR and its own Redis.
            if key not in {"REDIS_URL", "REDIS_URL_FILE", "DATABASE_URL", "DATABASE_URL_FILE"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="escalation_project.settings",
            VAR_DIR=str(var_dir),
            HOST="127.0.0.1",
            PORT=str(self.web_port),
            PYTHONUNBUFFERED="1",
        )
        env.pop("EMBEDDED_REDIS_PORT", None)
        if self.redis_port is not None:
            env["EMBEDDED_REDIS_PORT"] = str(self.redis_port)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        def done() -> bool:
            if check():
                return True
            if self.process.poll() is not None:
                pytest.fail(f"runstack exited ({self.process.returncode}) before {what}:\n{self.output}")
            return False

        wait_until(
            done, timeout=timeout, interval=0.25, message=lambda: f"{what}. runstack output:\n{self.output}"
        )

    def get(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def worker_answers_ping(self) -> bool:
        # set_as_current=False: this throw-away client must not become the
        # app that shared_task binds to in the test process.
        client = Celery(broker=f"redis://127.0.0.1:{self.redis_port}/0", set_as_current=False)
        try:
            return bool(client.control.ping(timeout=1, limit=1))
        finally:
            client.close()

    def survivors(self) -> list[str]:
        """Live processes that belong to this stack: by environment or by port."""
        marker = f"VAR_DIR={self.var_dir}".encode()
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue  # gone meanwhile, or not ours to read
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # already dead, waiting to be reaped
            if (
                marker in environ
                or f"127.0.0.1:{self.redis_port}" in cmdline  # redis-server's title
                or f"-p {self.web_port} " in cmdline  # daphne
            ):
                found.append(f"{pid}: {cmdline}")
        return found

    def wait_until_gone(self, after: str) -> None:
        wait_until(
            lambda: not self.survivors(),
            timeout=15,
            interval=0.1,
            message=lambda: f"Still running after {after}:\n" + "\n".join(self.survivors()),
        )

    def kill_leftovers(self) -> None:
        """After a failure: leave the machine as we found it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for entry in self.survivors():
            try:
                os.kill(int(entry.split(":")[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_runstack_serves_seeds_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "var")
    try:
        stack.wait_for("200 from /admin/login/", lambda: stack.get("/admin/login/") == 200,
                       READY_TIMEOUT)  # fmt: skip
        assert f"Embedded Redis on redis://127.0.0.1:{stack.redis_port}/0" in stack.output
        # seed_demo prints the demo credentials on every start.
        assert "password" in stack.output.lower(), stack.output
        stack.wait_for("URL banner", lambda: "Press Ctrl-C to stop." in stack.output, 20)
        assert f"http://127.0.0.1:{stack.web_port}/admin/" in stack.output
        banner = stack.output[stack.output.index("Escalation Console is running:") :]
        assert "username: admin" in banner and "password:" in banner, banner
        stack.wait_for("Celery worker reply to ping", stack.worker_answers_ping, 30)

        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(timeout=30) == 0, stack.output
        stack.reader.join(timeout=5)
        assert stack.lines[-1].endswith("Stopped."), stack.output
        # runstack waits for its children, but a pool process can take a
        # moment longer to be reaped after its parent is gone.
        stack.wait_until_gone(after="runstack exited")
    finally:
        stack.kill_leftovers()


@pytest.mark.slow
def test_runstack_stops_everything_and_fails_when_a_child_dies(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "var")
    try:
        stack.wait_for("200 from /admin/login/", lambda: stack.get("/admin/login/") == 200,
                       READY_TIMEOUT)  # fmt: skip
        beat = [entry for entry in stack.survivors() if "celery -A escalation_project beat" in entry]
        assert len(beat) == 1, stack.survivors()
        os.kill(int(beat[0].split(":")[0]), signal.SIGKILL)

        assert stack.process.wait(timeout=30) != 0, stack.output
        stack.reader.join(timeout=5)
        assert "celery-beat stopped unexpectedly (killed by SIGKILL)" in stack.output, stack.output
        stack.wait_until_gone(after="runstack exited")
    finally:
        stack.kill_leftovers()


@pytest.mark.slow
def test_nothing_outlives_runstack_even_when_it_is_killed_with_sigkill(tmp_path: Path) -> None:
    """A crashed or kill -9'd runstack must not leave Redis or a worker holding the ports."""
    stack = Stack(tmp_path / "var")
    try:
        stack.wait_for("200 from /admin/login/", lambda: stack.get("/admin/login/") == 200,
                       READY_TIMEOUT)  # fmt: skip
        assert any("redis-server" in entry for entry in stack.survivors()), stack.survivors()

        stack.process.kill()
        stack.process.wait(timeout=10)

        stack.wait_until_gone(after="runstack was killed")
    finally:
        stack.kill_leftovers()


@pytest.mark.slow
def test_with_its_redis_port_taken_runstack_moves_to_a_free_one_and_its_children_follow(
    tmp_path: Path,
) -> None:
    """Two checkouts side by side: the second finds the port derived from its PORT taken."""
    web_port = free_port()
    taken = redis_port_for(web_port)
    with socket.socket() as squatter:  # another checkout's Redis, or any other program
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        stack = Stack(tmp_path / "var", web_port=web_port, redis_port=None)
        try:
            stack.wait_for("200 from /admin/login/", lambda: stack.get("/admin/login/") == 200,
                           READY_TIMEOUT)  # fmt: skip
            moved = re.search(rf"Port {taken} .* is taken; using (\d+) instead", stack.output)
            assert moved, stack.output
            stack.redis_port = int(moved.group(1))
            assert stack.redis_port != taken
            assert f"Embedded Redis on redis://127.0.0.1:{stack.redis_port}/0" in stack.output
            # The children got the same port: the worker answers on it, and the banner names it.
            stack.wait_for("Celery worker reply to ping", stack.worker_answers_ping, 30)
            stack.wait_for("URL banner", lambda: "Press Ctrl-C to stop." in stack.output, 20)
            banner = stack.output[stack.output.index("Escalation Console is running:") :]
            assert f"redis://127.0.0.1:{stack.redis_port}/0  (embedded)" in banner, banner

            stack.process.send_signal(signal.SIGINT)
            assert stack.process.wait(timeout=30) == 0, stack.output
            stack.wait_until_gone(after="runstack exited")
        finally:
            stack.kill_leftovers()
