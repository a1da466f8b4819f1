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
from django.conf import settings
from django.db import connection

from escalation_project.embedded_redis import free_port


def database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"  # the test database's file: an absolute path
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


@contextlib.contextmanager
def running_daphne(var_dir: Path, *, redis_url: str | None = None) -> Iterator[str]:
    """Yield the base URL ("http://127.0.0.1:<port>") once /healthz answers; stop the server after.

    redis_url: another Redis than the test run's (a test that stops its own Redis)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE")},
        "DJANGO_SETTINGS_MODULE": "escalation_project.settings_test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url or settings.REDIS_URL,
        "VAR_DIR": str(var_dir),
        # The test process's key, so sessions it makes (force_login) are valid on the server.
        "SECRET_KEY": settings.SECRET_KEY,
        "TEST_RUN_PREFIX": settings.TEST_RUN_PREFIX,
    }
    # A file, not a pipe: nobody reads the access log while the test runs, and a
    # full pipe would stall the server.
    log_path = var_dir / "daphne.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "escalation_project.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not come up:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
