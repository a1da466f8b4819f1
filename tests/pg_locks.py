"""For tests of which rows a transaction locks, on PostgreSQL (SQLite has no row locks)."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.waiting import wait_until

postgresql_only = pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="Row locks are PostgreSQL's (SQLite's IMMEDIATE transactions serialise every writer); "
    "runs in CI's PostgreSQL pass.",
)


def wait_until_a_lock_is_awaited(cursor, condition: str, params: list | None = None) -> None:
    """Until some transaction waits for a lock matching `condition` (SQL on pg_locks)."""

    def awaited() -> int:
        cursor.execute(f"SELECT count(*) FROM pg_locks WHERE NOT granted AND {condition}", params or [])
        return cursor.fetchone()[0]

    wait_until(awaited, timeout=15, message=f"somebody waiting for a lock where {condition}")


def in_a_thread(act: Callable[[], Any]) -> tuple[threading.Thread, dict]:
    """A thread (not started) running act on its own connection; its outcome lands in the dict:
    "done" (what act returned) or "error" (what it raised, shown by the test's assertion)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["done"] = act()
        except Exception as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    return threading.Thread(target=run), outcome
