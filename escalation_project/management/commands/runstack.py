"""`manage.py runstack`: the whole product in one terminal (what `make run` calls).

Starts the embedded Redis unless REDIS_URL is set, prepares the database and
static files, seeds the demo, then supervises daphne, the Celery worker and
Celery beat with their output prefixed by name. Ctrl-C or SIGTERM stops the
children, then Redis, and exits 0; a child dying on its own stops the rest and
exits non-zero naming it.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from escalation_project import embedded_redis, fresh_database, static_collect
from escalation_project.env import env_int, env_str
from escalation_project.processes import die_with_parent

STOP_GRACE_SECONDS = 10.0
# Generous: on a loaded 2-core machine daphne alone took over 60 s to import and bind.
READY_TIMEOUT_SECONDS = 180.0
# The URL banner waits for the children's start-up banners to go quiet, so it
# is the last thing on screen rather than buried in Celery's.
QUIET_SECONDS = 1.5
QUIET_WAIT_MAX_SECONDS = 10.0
PAGES = [("admin", "/admin/"), ("console", "/console/"), ("API docs", "/api/docs/")]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    reader: threading.Thread | None = None


class Command(BaseCommand):
    help = "Run the embedded Redis (unless REDIS_URL is set), daphne, Celery worker and beat."

    def handle(self, *args: Any, **options: Any) -> None:
        self.host = env_str("HOST", "127.0.0.1")
        self.port = env_int("PORT", 8000, minimum=1, maximum=65535)
        self.stop_signal: int | None = None
        self.starting = True
        self.output_lock = threading.Lock()
        self.last_child_output = time.monotonic()
        self.children: list[Child] = []
        self.redis: subprocess.Popen[bytes] | None = None
        self.demo_logins: list[str] = []
        self.started_at = time.monotonic()
        self.step_seconds: dict[str, float] = {}
        self._move_off_a_taken_redis_port()
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        try:
            with self._step("redis"):
                env = self._start_redis()
            with self._step("migrate"):
                if fresh_database.migrate():
                    self._say("runstack", "New database: built from the models, every migration recorded.")
            with self._step("static files"):
                if not static_collect.collect_if_changed():
                    self._say("runstack", "Static files unchanged since the last start: not collected again.")
            # Kept to repeat under the URLs: by then the children's start-up
            # banners have scrolled the first printing away.
            logins = io.StringIO()
            with self._step("demo data"):
                call_command("seed_demo", stdout=logins)
            self.demo_logins = logins.getvalue().rstrip().splitlines()
            self.stdout.write("\n".join(self.demo_logins))
            self._start_children(env)
            self._supervise()
        except KeyboardInterrupt:
            self._say("runstack", "Interrupted while starting.")
        finally:
            self._stop_everything()
        self._say("runstack", "Stopped.")

    def _move_off_a_taken_redis_port(self) -> None:
        """With EMBEDDED_REDIS_PORT unset and the port derived from PORT taken (another
        checkout, another program), start again with a free one in the environment.

        Settings read the port once, at import, and the cache, the channel layer and the
        broker are built from it; starting again is the one way this process (which seeds
        through the services, so broadcasts and enqueues) and its children agree on it.
        """
        if not settings.EMBEDDED_REDIS or settings.EMBEDDED_REDIS_PORT_SET:
            return
        if not embedded_redis.port_is_open(settings.EMBEDDED_REDIS_PORT):
            return
        port = embedded_redis.free_port()
        self._say(
            "runstack",
            f"Port {settings.EMBEDDED_REDIS_PORT} (the embedded Redis's for PORT={self.port}) is taken; "
            f"using {port} instead (set EMBEDDED_REDIS_PORT to choose one).",
        )
        self.stdout.flush()
        os.execve(sys.executable, sys.orig_argv, {**os.environ, "EMBEDDED_REDIS_PORT": str(port)})

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
        """Time a start-up step, for the line that says where the start's time went."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.step_seconds[name] = time.monotonic() - started

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        if self.starting:
            # Still migrating or seeding: abort that step; `finally` cleans up.
            raise KeyboardInterrupt
        # Children are running: only note it, so the main loop stops them in
        # order and a second Ctrl-C cannot cut the shutdown short.
        self.stop_signal = signum

    def _start_redis(self) -> dict[str, str]:
        """Start the embedded Redis if needed; return the environment for the children."""
        # No mail server on a development machine: the worker prints its emails to this
        # output unless EMAIL_BACKEND says otherwise.
        env = {
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            # Readable lines, each prefixed with its process's name; production's default is JSON.
            "LOG_FORMAT": "text",
            **os.environ,
            "PYTHONUNBUFFERED": "1",
        }
        if not settings.EMBEDDED_REDIS:
            self._say("runstack", "REDIS_URL is set: using that Redis, starting none.")
            return env
        try:
            # Starts in its own process group and dies with us (see embedded_redis).
            self.redis = embedded_redis.start(settings.EMBEDDED_REDIS_PORT, settings.VAR_DIR / "redis")
        except embedded_redis.EmbeddedRedisError as exc:
            raise CommandError(str(exc)) from exc
        self._say("runstack", f"Embedded Redis on {settings.REDIS_URL}")
        # Every child gets the same URL, so they agree with this process.
        return {**env, "REDIS_URL": settings.REDIS_URL}

    def _start_children(self, env: dict[str, str]) -> None:
        python = sys.executable  # the venv's, so no PATH lookup is involved
        commands = {
            # -v 0: no second, plain access log; the app logs each request (request_id.py).
            "daphne": [python, "-m", "daphne", "-v", "0", "-b", self.host, "-p", str(self.port),
                       "escalation_project.asgi:application"],
            "celery-worker": [python, "-m", "celery", "-A", "escalation_project", "worker",
                              "--loglevel=INFO", "--concurrency=2"],
            "celery-beat": [python, "-m", "celery", "-A", "escalation_project", "beat",
                            "--loglevel=INFO"],
        }  # fmt: skip
        self.starting = False
        self.children_started_at = time.monotonic()
        for name, command in commands.items():
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Own process group: the terminal's Ctrl-C reaches only runstack,
                # which stops the children in order, and killpg also reaches
                # the worker's pool processes.
                process_group=0,
                preexec_fn=die_with_parent(os.getpid()),
            )
            self.children.append(Child(name, process))
        # Readers start after every fork: preexec_fn runs between fork and
        # exec, where a lock held by another thread could hang the child.
        for child in self.children:
            child.reader = self._pipe_output(child.name, child.process.stdout)
        if self.redis is not None and self.redis.stderr is not None:
            self._pipe_output("redis", self.redis.stderr)  # also keeps its pipe from filling

    def _supervise(self) -> None:
        ready_by = time.monotonic() + READY_TIMEOUT_SECONDS
        healthy_at: float | None = None
        missing: set[str] = set()
        announced = False
        while self.stop_signal is None:
            for name, process in self._watched():
                if (code := process.poll()) is not None:
                    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                    raise CommandError(f"{name} stopped unexpectedly ({how}); stopped the rest too.")
            now = time.monotonic()
            if healthy_at is None:
                if self._status("/healthz") == 200:
                    healthy_at = now
                    self.step_seconds["processes"] = now - self.children_started_at
                    self._say("runstack", self._start_summary(now))
                    # Pages that later work adds: marked "(coming)" until they exist.
                    missing = {path for _, path in PAGES if self._status(path) == 404}
                elif now > ready_by:
                    raise CommandError(
                        f"daphne did not answer http://{self._address()}/healthz "
                        f"within {READY_TIMEOUT_SECONDS:.0f} s."
                    )
            elif not announced and (
                now - self.last_child_output > QUIET_SECONDS or now - healthy_at > QUIET_WAIT_MAX_SECONDS
            ):
                self._announce(missing)
                announced = True
            time.sleep(0.2)
        self._say("runstack", f"Got {signal.Signals(self.stop_signal).name}, stopping.")

    def _watched(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        watched = [(child.name, child.process) for child in self.children]
        if self.redis is not None:
            watched.append(("redis", self.redis))
        return watched

    def _start_summary(self, now: float) -> str:
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.step_seconds.items())
        return f"Answering {now - self.started_at:.1f} s after start ({steps})."

    def _announce(self, missing: set[str]) -> None:
        base = f"http://{self._address()}"
        lines = ["Escalation Console is running:"]
        for label, path in PAGES:
            lines.append(f"  {label:<8} {base}{path}{'  (coming)' if path in missing else ''}")
        if self.redis is not None:
            lines.append(f"  {'redis':<8} {settings.REDIS_URL}  (embedded)")
        lines.extend(self.demo_logins)
        lines.append("Press Ctrl-C to stop.")
        self._say("runstack", *lines)

    def _stop_everything(self) -> None:
        self.starting = False
        alive = [child for child in self.children if child.process.poll() is None]
        for child in alive:
            self._signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in alive:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say("runstack", f"{child.name} ignored SIGTERM; killing it.")
                self._signal_group(child, signal.SIGKILL)
                child.process.wait()
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)  # print their last lines before ours
        # Last, so the worker and daphne could still reach it while shutting down.
        if self.redis is not None:
            embedded_redis.stop(self.redis)

    def _signal_group(self, child: Child, signum: signal.Signals) -> None:
        try:
            os.killpg(child.process.pid, signum)
        except ProcessLookupError:
            pass  # exited in the meantime

    def _address(self) -> str:
        # A wildcard bind address is not something to browse to.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def _status(self, path: str) -> int | None:
        """The HTTP status of GET path on daphne, without following redirects."""
        connection = http.client.HTTPConnection(self._address(), timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return None  # not listening yet, or cut off mid-start
        finally:
            connection.close()

    def _pipe_output(self, name: str, stream: IO[bytes] | None) -> threading.Thread:
        def copy() -> None:
            assert stream is not None
            for line in iter(stream.readline, b""):
                self.last_child_output = time.monotonic()
                self._say(name, line.decode(errors="replace").rstrip())

        thread = threading.Thread(target=copy, name=f"runstack-{name}", daemon=True)
        thread.start()
        return thread

    def _say(self, name: str, *lines: str) -> None:
        # One lock, so lines from different children never interleave mid-line
        # and a block (the banner) stays together.
        with self.output_lock:
            for line in lines:
                self.stdout.write(f"{name:<13} | {line}")
            self.stdout.flush()
