"""The SQLite backend: a process's writers queue on a lock before BEGIN IMMEDIATE, not in SQLite."""

import threading

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction

from escalation_project.sqlite_backend.base import _write_locks, write_lock
from escalation_project.sqlite_retry import is_sqlite_busy
from supervisors.models import Team

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "escalation_project.sqlite_backend", reason="SQLite only"
)


def in_thread(target) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()  # this thread's connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


class NotingLock:
    """The process's write lock, noting when a thread finds it taken and waits."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.someone_waits = threading.Event()

    def acquire(self, timeout: float) -> bool:
        if self.lock.locked():
            self.someone_waits.set()
        return self.lock.acquire(timeout=timeout)

    def release(self) -> None:
        self.lock.release()


def test_a_second_writer_waits_for_the_first_instead_of_failing(transactional_db, monkeypatch):
    name = str(connection.settings_dict["NAME"])
    lock = NotingLock(write_lock(name))
    monkeypatch.setitem(_write_locks, name, lock)
    first_writing, first_may_commit = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def first() -> None:
        with transaction.atomic():
            Team.objects.create(name="First", slug="first")
            first_writing.set()
            assert first_may_commit.wait(30)
        outcomes.append("first committed")

    def second() -> None:
        # SQLite's own wait off: were the writers queued by SQLite only, this BEGIN
        # IMMEDIATE would fail at once with "database is locked" while the first writes.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 0")
        assert first_writing.wait(30)
        try:
            with transaction.atomic():
                Team.objects.create(name="Second", slug="second")
        except OperationalError as error:
            outcomes.append(f"second failed: {error}")
        else:
            outcomes.append("second committed")

    threads = [in_thread(first), in_thread(second)]
    waited = lock.someone_waits.wait(30)
    first_may_commit.set()
    for thread in threads:
        thread.join(60)
    assert waited, outcomes
    assert outcomes == ["first committed", "second committed"]
    assert set(Team.objects.values_list("slug", flat=True)) >= {"first", "second"}


def test_the_lock_is_free_again_after_a_rollback_and_after_a_close(transactional_db):
    lock = write_lock(connection.settings_dict["NAME"])
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Team.objects.create(name="Gone", slug="gone")
        assert lock.locked()
        raise ZeroDivisionError
    assert not lock.locked()
    assert not Team.objects.filter(slug="gone").exists()

    atomic = transaction.atomic()
    atomic.__enter__()
    assert lock.locked()
    connection.close()  # e.g. close_old_connections on an unusable connection, mid-transaction
    assert not lock.locked()
    atomic.__exit__(None, None, None)
    assert not lock.locked()
    with transaction.atomic():
        Team.objects.create(name="After", slug="after")


def test_waiting_longer_than_the_timeout_is_sqlites_busy_error(transactional_db, monkeypatch):
    # sqlite_retry.py then runs the whole transaction again, as for SQLite's own busy error.
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)
    lock = write_lock(connection.settings_dict["NAME"])
    assert lock.acquire(timeout=5)  # another thread of this process, writing
    try:
        with pytest.raises(OperationalError, match="database is locked") as raised, transaction.atomic():
            Team.objects.create(name="Late", slug="late")
    finally:
        lock.release()
    assert is_sqlite_busy(raised.value)
    assert not connection.holds_write_lock
    with transaction.atomic():
        Team.objects.create(name="Now", slug="now")
