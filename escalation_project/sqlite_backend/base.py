"""Django's SQLite backend, with the writers of one process queued on a lock of its own.

Every atomic block on SQLite starts with BEGIN IMMEDIATE (settings.py), which
takes the database's write lock. A connection that finds it taken waits in
SQLite's busy handler, which does not queue: it sleeps in growing steps (1, 2,
5 … 100 ms) and tries again, and whoever asks at the moment the lock is free
gets it, while the database may sit idle between the sleeps. Under a burst in
one daphne process a writer that had waited long kept losing to newcomers
(issue 17: create p99 3 s, the slowest 8 s, in bench/sqlite_burst.py).

So within a process, writers wait on a threading lock taken before BEGIN
IMMEDIATE and released at COMMIT or ROLLBACK: a waiting thread is woken the
moment the lock is free, and nobody sleeps while the database is idle. The
busy timeout still covers other processes (the Celery worker, a management
command), which this lock cannot see. Measured with 16 threads writing
(bench/sqlite_writers.py): p99 123 -> 37 ms, slowest 378 -> 56 ms, 1.7x the
transactions a second. Waiting longer than the busy timeout for
the lock is SQLite's "database is locked", so sqlite_retry.py treats it alike.

Only transactions are queued here: a lone write in autocommit mode (a model's
save() outside atomic) still waits in SQLite's busy handler.
"""

from __future__ import annotations

import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# One lock per database file: every connection of the process to that file shares it.
_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock(name: str) -> threading.Lock:
    with _write_locks_guard:
        return _write_locks.setdefault(str(name), threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    holds_write_lock = False

    def _start_transaction_under_autocommit(self) -> None:
        lock = write_lock(self.settings_dict["NAME"])
        # The same bound as SQLite's own wait (OPTIONS["timeout"], Python's default 5 s).
        timeout = self.settings_dict["OPTIONS"].get("timeout", 5.0)
        if not lock.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's other writers)")
        self.holds_write_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            # After a failed COMMIT, Django rolls back; the transaction is over either way.
            self._release_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_write_lock()

    def _release_write_lock(self) -> None:
        if self.holds_write_lock:
            self.holds_write_lock = False
            write_lock(self.settings_dict["NAME"]).release()
