"""daphne in its own process, serving the test database and the test Redis over real HTTP.

Used by the end-to-end API test and the browser tests. The server runs with
the test settings (static files straight from the app folders, no
collectstatic) and sees what the test commits: use it with transactional_db.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from celery import Celery
from django.conf import settings
from django.db import connection

from escalation_project import embedded_redis
from escalation_project.embedded_redis import free_port, stop  # stop: terminate, then kill
from tests.waiting import wait_until


def database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"  # the test database's file: an absolute path
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def server_env(var_dir: Path, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a process serving the test database: the test settings, in `var_dir`."""
    return {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE")},
        "DJANGO_SETTINGS_MODULE": "escalation_project.settings_test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url or settings.REDIS_URL,
        "VAR_DIR": str(var_dir),
        # The test process's key, so sessions it makes (force_login) are valid on the server.
        "SECRET_KEY": settings.SECRET_KEY,
        "TEST_RUN_PREFIX": settings.TEST_RUN_PREFIX,
        **extra,
    }


@contextlib.contextmanager
def running_redis(var_dir: Path) -> Iterator[str]:
    """A redis-server of the caller's alone; yields its URL. Its broker queue and channel groups are
    then the caller's only, even in a run whose other tests share a Redis with other test runs."""
    port = free_port()
    process = embedded_redis.start(port, var_dir / "redis")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        embedded_redis.stop(process)


def wait_until_serving(url: str, process: subprocess.Popen, log_path: Path, *, timeout: float) -> None:
    """Until `url` answers 200; fails at once, with the server's log, if the server exits first."""

    def serving() -> bool:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        # Not listening yet, or (on a loaded machine) slow with its first request.
        except (requests.ConnectionError, requests.Timeout):
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the server exited before it came up:\n{log_path.read_text()}")
        return False

    wait_until(
        serving, timeout=timeout, interval=0.1, message=lambda: f"{url} answering:\n{log_path.read_text()}"
    )


@contextlib.contextmanager
def running_daphne(var_dir: Path, redis_url: str | None = None, **extra_env: str) -> Iterator[str]:
    """Yield the base URL ("http://127.0.0.1:<port>") once /healthz answers; stop the server after."""
    port = free_port()
    env = server_env(var_dir, redis_url, **extra_env)
    # A file, not a pipe: nobody reads the access log while the test runs, and a
    # full pipe would stall the server.
    log_path = var_dir / "daphne.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            # -v 0: no plain-text access log; the app logs each request itself (request_id.py).
            [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port),
             "escalation_project.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/healthz", process, log_path, timeout=30)
        yield base
    finally:
        stop(process)


@contextlib.contextmanager
def running_celery(var_dir: Path, redis_url: str | None = None, **extra_env: str) -> Iterator[Path]:
    """A Celery worker and Celery beat, as `make run` starts them, on the test database.

    Yields the folder of their logs once the worker answers a ping; stops both after.
    """
    env = server_env(var_dir, redis_url, **extra_env)
    processes = []
    for role, options in [("worker", ["--pool=solo", "--loglevel=INFO"]), ("beat", ["--loglevel=INFO"])]:
        with open(var_dir / f"celery-{role}.log", "w") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "escalation_project", role, *options],
                    cwd=settings.BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    # set_as_current=False: this client must not become the app shared_task binds to here.
    client = Celery(broker=env["REDIS_URL"], set_as_current=False)
    try:
        deadline = time.monotonic() + 60
        while not client.control.ping(timeout=0.5, limit=1):
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                logs = "\n".join(path.read_text() for path in sorted(var_dir.glob("celery-*.log")))
                raise RuntimeError(f"the Celery worker did not come up:\n{logs}")
        yield var_dir
    finally:
        client.close()
        for process in processes:
            stop(process)
