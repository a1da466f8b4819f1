"""Observability's cost: a /metrics scrape, recording one transition's metrics, one JSON log line.

    .venv/bin/python bench/metrics.py [--active 100000] [--closed 100000] [--teams 10] [--sockets 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/metrics.py

1. Seeds `--teams` teams with `--active` open or claimed escalations and
   `--closed` closed ones between them (bulk-inserted), `--sockets` console
   sockets in the presence sets (as the consumer's join writes them), and
   20,000 recorded transitions in the Redis counters and histograms.
2. Times GET /metrics through the real view (RequestFactory, in process), n
   times with the queue counts cached under the newest event id (what most
   scrapes find: a scrape every 15 s, an event less often) and n times with
   the cache cleared first (the GROUP BY on the esc_queue_counts index runs).
3. Times recording one closing (counter + histogram: one pipelined Redis
   round trip), and formatting one JSON log line (filter + formatter).

CPU time is this process's (time.process_time): Redis's, and PostgreSQL's,
work is in their own processes and shows only in the wall time. Always on a
fresh database `bench_metrics` (dropped at the end); without DATABASE_URL,
SQLite in a temporary VAR_DIR, with an embedded Redis unless REDIS_URL is set.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import time

from _db import django_stack  # bench/ is on sys.path when run as a script

BENCH_DATABASE = "bench_metrics"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--active", type=int, default=100_000)
    parser.add_argument("--closed", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("-n", type=int, default=50, help="scrapes timed per case")
    args = parser.parse_args()
    with django_stack(BENCH_DATABASE, LOG_LEVEL="ERROR", METRICS_TOKEN=""):
        from django.db import connection

        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
            f"{os.cpu_count()} CPUs · Python {platform.python_version()} · load {os.getloadavg()[0]:.2f}"
        )
        _prepare(args.active, args.closed, args.teams, args.sockets)
        _bench_scrapes(args.n)
        _bench_recording()
        _bench_log_line()
        print(f"load at the end {os.getloadavg()[0]:.2f}")


def _prepare(active: int, closed: int, teams: int, sockets: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from agents.models import Agent, Conversation
    from escalation_project import metrics
    from escalations.models import Escalation, Origin, Status
    from supervisors import presence
    from supervisors.models import Team

    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    random.seed(7)
    agents = []
    for number in range(teams):
        team = Team.objects.create(name=f"Team {number}", slug=f"team-{number}")
        agents.append(Agent.objects.create(team=team, name=f"Bot {number}", slug=f"bot-{number}"))
    user = get_user_model().objects.create_user("sam", "sam@example.com", "x")
    now = timezone.now()
    statuses = [Status.OPEN] * 4 + [Status.CLAIMED]
    batch = 5000
    for first in range(0, active + closed, batch):
        size = min(batch, active + closed - first)
        chosen = [random.choice(agents) for _ in range(size)]
        conversations = Conversation.objects.bulk_create(
            Conversation(agent=agent, external_id=f"seed-{first + k}", channel="chat")
            for k, agent in enumerate(chosen)
        )
        rows = []
        for k, (agent, conversation) in enumerate(zip(chosen, conversations, strict=True)):
            is_active = first + k < active
            status = (
                random.choice(statuses) if is_active else random.choice([Status.RESOLVED, Status.DISMISSED])
            )
            rows.append(
                Escalation(
                    agent=agent,
                    team_id=agent.team_id,
                    conversation=conversation,
                    channel="chat",
                    origin=Origin.RULE,
                    reason="Customer asked for a refund",
                    severity=random.choice(["info", "warning", "critical"]),
                    urgency="medium",
                    status=status,
                    claimed_by=user if status != Status.OPEN else None,
                    closed_at=None if is_active else now,
                )
            )
        Escalation.objects.bulk_create(rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    team_ids = list(Team.objects.values_list("id", flat=True))
    for number in range(sockets):
        # Each socket in one or two teams, as supervisors of one or two teams have.
        joined = random.sample(team_ids, k=random.choice([1, 2]))
        presence.presence_join(team_ids=joined, user_id=number + 1, connection_id=f"c{number}")
    for _ in range(20_000):
        severity = random.choice(["info", "warning", "critical"])
        metrics._write(
            lambda pipe, severity=severity: (
                metrics.ESCALATIONS_CLOSED.inc(
                    pipe, severity=severity, outcome="resolved", automatic="false"
                ),
                metrics.TIME_TO_ANSWER.observe(pipe, random.uniform(5, 20_000), severity=severity),
            )
        )
    print(
        f"Seeded {active:,} active and {closed:,} closed escalations in {teams} teams, {sockets} sockets, "
        f"20,000 recorded closings in {time.perf_counter() - started:.1f} s"
    )


def _timed(function, n: int) -> tuple[list[float], list[float]]:
    """Per call: (CPU ms of this process, wall ms)."""
    cpu, wall = [], []
    for _ in range(n):
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        function()
        cpu.append((time.process_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - wall_started) * 1000)
    return cpu, wall


def _summary(label: str, cpu: list[float], wall: list[float]) -> None:
    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]

    print(
        f"  {label:<44} CPU p50 {statistics.median(cpu):7.3f} ms  p90 {p(cpu, 90):7.3f} ms · "
        f"wall p50 {statistics.median(wall):7.3f} ms  p90 {p(wall, 90):7.3f} ms  (n={len(cpu)})"
    )


def _bench_scrapes(n: int) -> None:
    from django.core.cache import cache
    from django.test import RequestFactory

    from escalation_project.metrics import metrics_view

    request = RequestFactory().get("/metrics")
    response = metrics_view(request)
    assert response.status_code == 200, response.content
    body = response.content.decode()
    samples = sum(1 for line in body.splitlines() if not line.startswith("#"))
    print(f"\nA scrape: {len(body):,} bytes, {samples} samples")
    assert 'escalation_console_source_up{source="database"} 1.0' in body, body[-800:]
    _summary("GET /metrics, queue counts cached", *_timed(lambda: metrics_view(request), n))

    def uncached():
        cache.clear()
        metrics_view(request)

    _summary("GET /metrics, queue counts counted again", *_timed(uncached, n))


def _bench_recording() -> None:
    from escalation_project import metrics

    def record():
        metrics._write(
            lambda pipe: (
                metrics.ESCALATIONS_CLOSED.inc(
                    pipe, severity="warning", outcome="resolved", automatic="false"
                ),
                metrics.TIME_TO_ANSWER.observe(pipe, 420.0, severity="warning"),
            )
        )

    print()
    _summary("record one closing (counter + histogram)", *_timed(record, 2000))


def _bench_log_line() -> None:
    import io

    from escalation_project import request_id
    from escalation_project.logs import JsonLineFormatter, logging_config

    options = dict(logging_config(log_format="json", level="INFO")["formatters"]["json"])
    del options["()"]
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonLineFormatter(**options))
    handler.addFilter(request_id.RequestIdFilter())
    logger = logging.getLogger("bench.access")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def line():
        logger.info(
            "%s %s %s",
            "GET",
            "/api/v1/escalations/",
            200,
            extra={"method": "GET", "path": "/api/v1/escalations/", "status": 200, "duration_ms": 12.3},
        )

    with request_id.bound(request_id.new()):
        _summary("one JSON access log line", *_timed(line, 10_000))


if __name__ == "__main__":
    main()
