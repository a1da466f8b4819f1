"""Retry a whole write transaction when SQLite answers "database is locked" (SQLITE_BUSY).

On SQLite (the embedded default) every `atomic` block starts with BEGIN IMMEDIATE
and each connection waits up to its busy timeout for the write lock (settings.py),
so writers normally queue instead of failing. SQLite can still give up:
- the busy timeout runs out under a long burst: its busy handler polls with growing
  sleeps (up to 100 ms), so a writer that has waited long keeps losing the lock to
  newcomers (measured: single requests waiting 12 s in bench/sqlite_burst.py);
- a read transaction that must become a write one while another connection has
  committed since it started (SQLITE_BUSY_SNAPSHOT) fails at once, without waiting.
In both cases nothing was written, and the right answer is to run the whole
transaction again from the start, after a pause with jitter so the retriers do not
collide again. Only the outermost call retries: inside a caller's transaction the
caller's work is lost too, so the error goes up to whoever started it.

PostgreSQL never sees this decorator do anything: it only acts on SQLite's error.
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

ATTEMPTS = 5
# First pause 50 ms, doubling, at most 1 s; each pause is a random share of that
# ("full jitter"), so writers that failed together do not come back together.
FIRST_PAUSE_SECONDS = 0.05
MAX_PAUSE_SECONDS = 1.0


def is_sqlite_busy(error: BaseException) -> bool:
    """SQLITE_BUSY in any of its forms (busy timeout, snapshot, recovery), as Django raises it."""
    if not isinstance(error, OperationalError) or connection.vendor != "sqlite":
        return False
    cause = error.__cause__
    if isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) is not None:
        return cause.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(error)


def retry_if_busy(function: Callable[P, R]) -> Callable[P, R]:
    """Run `function` (which opens its own transaction) again when SQLite reports busy.

    Call it outside any transaction for the retry to apply; inside one it runs once.
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            return function(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return function(*args, **kwargs)
            except OperationalError as error:
                if attempt == ATTEMPTS or not is_sqlite_busy(error):
                    raise
                pause = random.uniform(0, min(MAX_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** (attempt - 1)))
                logger.warning(
                    "SQLite was busy in %s (attempt %d of %d); running it again in %.0f ms.",
                    function.__qualname__,
                    attempt,
                    ATTEMPTS,
                    pause * 1000,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns or raises

    return wrapper
