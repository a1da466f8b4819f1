"""Threads of one process writing to SQLite: Django's backend beside ours (the writer lock), in one run.

    .venv/bin/python bench/sqlite_writers.py [--threads 16] [--transactions 40] [--blocks 3]

What one daphne process does under a burst of API writes, without HTTP: `--threads`
threads each run `--transactions` short write transactions (BEGIN IMMEDIATE, three
inserts of 0.5 KB, COMMIT, as settings.py configures SQLite) on one database
file in a temporary VAR_DIR. The same threads run once through Django's own SQLite
backend, where a thread that finds the write lock taken waits in SQLite's busy
handler (it sleeps 1, 2, 5 … 100 ms and tries again), and once through
escalation_project/sqlite_backend, where it waits on the process's lock and is woken
when the lock is free; in alternating order, `--blocks` times. Printed per backend:
transactions/s and the p50/p99/max of a transaction's time, waiting included.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import threading
import time
from collections import defaultdict

from _db import django_stack

BACKENDS = {"django": "django.db.backends.sqlite3", "ours": "escalation_project.sqlite_backend"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--transactions", type=int, default=40, help="per thread and block")
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()

    with django_stack("bench_sqlite_writers", LOG_LEVEL="WARNING"):
        from django.core.management import call_command
        from django.db import connections

        if connections["default"].vendor != "sqlite":
            raise SystemExit("SQLite only: run without DATABASE_URL.")
        call_command("migrate", interactive=False, verbosity=0)
        with connections["default"].cursor() as cursor:
            cursor.execute("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, name TEXT UNIQUE, body TEXT)")
        # The same database file under a second alias with Django's own backend.
        for alias, engine in BACKENDS.items():
            connections.settings[alias] = {**connections.settings["default"], "ENGINE": engine}
        seconds: dict[str, list[float]] = defaultdict(list)
        rates: dict[str, list[float]] = defaultdict(list)
        loads = [os.getloadavg()[0]]
        for block in range(args.blocks + 1):  # block 0 warms up, uncounted
            for alias in list(BACKENDS) if block % 2 else list(BACKENDS)[::-1]:
                started = time.perf_counter()
                timings = _burst(alias, args, tag=f"{alias}-{block}")
                if block:
                    seconds[alias] += timings
                    rates[alias].append(len(timings) / (time.perf_counter() - started))
            loads.append(os.getloadavg()[0])
        _report(args, seconds, rates, loads)


def _burst(alias: str, args, *, tag: str) -> list[float]:
    from django.db import connections, transaction

    start = threading.Barrier(args.threads)
    timings: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        mine = []
        start.wait()
        try:
            for round_ in range(args.transactions):
                began = time.perf_counter()
                with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                    for part in range(3):
                        cursor.execute(
                            "INSERT INTO bench_rows (name, body) VALUES (%s, %s)",
                            [f"{tag}-{number}-{round_}-{part}", "x" * 500],
                        )
                mine.append(time.perf_counter() - began)
        except Exception as error:  # noqa: BLE001 (counted and reported)
            with lock:
                errors.append(repr(error))
        finally:
            connections[alias].close()
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{alias}: {len(errors)} failed transactions, e.g. {errors[0]}")
    return timings


def _report(args, seconds, rates, loads) -> None:
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · SQLite {sqlite3.sqlite_version} (WAL, "
        f"BEGIN IMMEDIATE) · {args.threads} threads × {args.transactions} transactions × {args.blocks} "
        f"blocks per backend · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"load {min(loads):.1f}–{max(loads):.1f}"
    )
    print()
    print("| backend | transactions/s (median of blocks) | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for alias in BACKENDS:
        ms = sorted(value * 1000 for value in seconds[alias])
        quantiles = statistics.quantiles(ms, n=100, method="inclusive")
        print(
            f"| {alias} | {statistics.median(rates[alias]):.0f} | {quantiles[49]:.1f} | {quantiles[98]:.1f} "
            f"| {ms[-1]:.1f} |"
        )


if __name__ == "__main__":
    main()
