"""The insights page with a year of closed escalations (issue 7).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/insights.py [--escalations 1000000] [--renders 30]

Bulk-inserts `--escalations` closed escalations (resolved 70%, dismissed 20%,
withdrawn 10%; needed 30% / not needed 20% / unmarked; a tenth with a
response breach) spread evenly over the last 365 days: 90% in the
supervisor's team (20 agents, 2 phrase rules each, a tenth of the rows from
tool calls), 10% in another team. On PostgreSQL one `INSERT … SELECT` over
`generate_series` (then `VACUUM ANALYZE`, as autovacuum would soon do);
on SQLite `bulk_create` in batches. Then GET /console/insights/ through
Django's handler in this process (server time: no network, no browser) for
the default 30 days, 90 and 365 days, one team, and a CSV; prints p50/p95 and
the queries per render, and fails if the default page's p50 is over 300 ms.

Always on a fresh database `bench_insights` (dropped at the end); without
DATABASE_URL, SQLite in a temporary VAR_DIR.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time

from _db import django_stack  # bench/ is on sys.path when run as a script

BENCH_DATABASE = "bench_insights"
TARGET_P50_MS = 300
URLS = [
    "/console/insights/",
    "/console/insights/?period=90",
    "/console/insights/?period=365",
    "/console/insights/?team=support",
    "/console/insights/?format=csv&table=rules",
]
AGENTS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalations", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=30, help="timed renders per URL")
    args = parser.parse_args()
    if args.renders < 2:
        parser.error("--renders: at least 2 (a p95 needs two)")
    env = {"LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver"}
    with django_stack(BENCH_DATABASE, **env):
        from django.db import connection

        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
            f"{os.cpu_count()} CPUs · Python {platform.python_version()} · load {os.getloadavg()[0]:.2f}"
        )
        supervisor = _prepare(args.escalations)
        failures = _bench(supervisor, args.renders)
    if failures:
        sys.exit("\n".join(failures))


# --- Data ---------------------------------------------------------------------------------------


def _prepare(n: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from agents.models import Agent, Conversation, EscalationRule
    from supervisors.models import Membership, Role, Team

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    team = Team.objects.create(name="Support", slug="support")
    other = Team.objects.create(name="Legal", slug="legal")
    User = get_user_model()
    supervisors = [User.objects.create_user(f"sup{k}", password="x") for k in range(10)]
    for user in supervisors:
        Membership.objects.create(user=user, team=team, role=Role.SUPERVISOR)
    agents = [
        Agent.objects.create(team=team, name=f"Bot {k}", slug=f"bot-{k}", description="Answers.")
        for k in range(AGENTS)
    ]
    legal = Agent.objects.create(team=other, name="Legal Bot", slug="legal-bot", description="Law.")
    # Closed escalations may share a conversation (only an active one is unique per conversation).
    conversations = [
        Conversation.objects.create(agent=agent, external_id=f"c-{agent.slug}") for agent in [*agents, legal]
    ]
    rules = [
        EscalationRule.objects.create(
            agent=agent,
            name=f"Rule {k}-{j}",
            kind="phrases",
            parameters={"phrases": [f"word{k}{j}"]},
            reason_template="Asked",
        )
        for k, agent in enumerate(agents)
        for j in range(2)
    ]
    started = time.perf_counter()
    world = {
        "agents": [a.pk for a in agents],
        "legal": legal.pk,
        "team": team.pk,
        "other": other.pk,
        "conversations": [c.pk for c in conversations],
        "rules": [r.pk for r in rules],
        "users": [u.pk for u in supervisors],
    }
    if connection.vendor == "postgresql":
        _insert_postgresql(n, world)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        _insert_orm(n, world)
    print(f"Seeded {n:,} closed escalations over 365 days in {time.perf_counter() - started:.1f} s")
    return supervisors[0]


# Per row g: agent index a = g % 20 (team Support) unless g % 10 == 9 (Legal); the rule is one of
# the agent's two, none for a tenth of the rows; the rest from random() with a fixed seed.
_INSERT = """
INSERT INTO escalations_escalation (
    agent_id, team_id, conversation_id, channel, origin, rule_id, evidence, reason, severity, urgency,
    topic, area, blocking, status, claimed_by_id, claimed_at, responder_id, guidance, closing_note,
    closed_at, closed_automatically, timeout_policy, level, needed, response_breached_at,
    resolution_breached_at, created_at, updated_at)
SELECT
    CASE WHEN legal THEN %(legal)s ELSE (%(agents)s::int[])[a + 1] END,
    CASE WHEN legal THEN %(other)s ELSE %(team)s END,
    (%(conversations)s::int[])[CASE WHEN legal THEN %(n_agents)s + 1 ELSE a + 1 END],
    'chat',
    CASE WHEN legal OR g %% 7 = 0 THEN 'tool_call' ELSE 'rule' END,
    CASE WHEN legal OR g %% 7 = 0 THEN NULL ELSE (%(rules)s::int[])[2 * a + 1 + (g / 20) %% 2] END,
    '[]'::jsonb, 'Customer asked for something', severity,
    CASE severity WHEN 'critical' THEN 'high' WHEN 'warning' THEN 'medium' ELSE 'low' END,
    '', '', true, status,
    CASE WHEN status <> 'withdrawn' THEN supervisor END,
    CASE WHEN status <> 'withdrawn' THEN created + claim_after END,
    CASE WHEN status <> 'withdrawn' THEN supervisor END,
    '', '', created + claim_after + answer_after, false, 'keep_waiting', 0,
    CASE WHEN r3 < 0.3 THEN true WHEN r3 < 0.5 THEN false END,
    CASE WHEN r4 < 0.1 THEN created + interval '1 hour' END,
    CASE WHEN r4 < 0.05 THEN created + interval '4 hours' END,
    created, created + claim_after + answer_after
FROM (
    SELECT g, g %% 10 = 9 AS legal, g %% %(n_agents)s AS a, r3, r4,
           (%(users)s::int[])[1 + (g %% 10)] AS supervisor,
           CASE WHEN r1 < 0.1 THEN 'critical' WHEN r1 < 0.5 THEN 'warning' ELSE 'info' END AS severity,
           CASE WHEN r2 < 0.7 THEN 'resolved' WHEN r2 < 0.9 THEN 'dismissed' ELSE 'withdrawn' END AS status,
           now() - r0 * interval '365 days' AS created,
           r1 * interval '60 minutes' AS claim_after,
           r2 * interval '120 minutes' AS answer_after
    FROM (SELECT g, random() r0, random() r1, random() r2, random() r3, random() r4
          FROM generate_series(1, %(n)s) g) numbers
) rows
"""


def _insert_postgresql(n: int, world: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.7)")
        cursor.execute(_INSERT, {**world, "n": n, "n_agents": AGENTS})


def _insert_orm(n: int, world: dict) -> None:
    import datetime as dt
    import random

    from django.utils import timezone

    from escalations.models import Escalation

    random.seed(7)
    now = timezone.now()
    created_at = Escalation._meta.get_field("created_at")
    created_at.auto_now_add = False  # a bench's rows have their own ages; restored below
    try:
        batch = []
        for g in range(1, n + 1):
            legal, a = g % 10 == 9, g % AGENTS
            r = [random.random() for _ in range(5)]
            created = now - dt.timedelta(days=365 * r[0])
            status = "resolved" if r[2] < 0.7 else "dismissed" if r[2] < 0.9 else "withdrawn"
            claim_after, answer_after = dt.timedelta(minutes=60 * r[1]), dt.timedelta(minutes=120 * r[2])
            person = world["users"][g % 10] if status != "withdrawn" else None
            tool = legal or g % 7 == 0
            batch.append(
                Escalation(
                    agent_id=world["legal"] if legal else world["agents"][a],
                    team_id=world["other"] if legal else world["team"],
                    conversation_id=world["conversations"][AGENTS if legal else a],
                    channel="chat",
                    origin="tool_call" if tool else "rule",
                    rule_id=None if tool else world["rules"][2 * a + (g // 20) % 2],
                    reason="Customer asked for something",
                    severity="critical" if r[1] < 0.1 else "warning" if r[1] < 0.5 else "info",
                    urgency="medium",
                    status=status,
                    claimed_by_id=person,
                    claimed_at=created + claim_after if person else None,
                    responder_id=person,
                    closed_at=created + claim_after + answer_after,
                    needed=True if r[3] < 0.3 else False if r[3] < 0.5 else None,
                    response_breached_at=created + dt.timedelta(hours=1) if r[4] < 0.1 else None,
                    resolution_breached_at=created + dt.timedelta(hours=4) if r[4] < 0.05 else None,
                    created_at=created,
                )
            )
            if len(batch) == 5000:
                Escalation.objects.bulk_create(batch)
                batch = []
        Escalation.objects.bulk_create(batch)
    finally:
        created_at.auto_now_add = True


# --- The page -------------------------------------------------------------------------------------


def _bench(supervisor, renders: int) -> list[str]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(supervisor)
    failures = []
    print()
    print(f"Insights page, {renders} renders per URL (server time, in process):")
    print()
    print("| URL | p50 ms | p95 ms | queries | escalations counted |")
    print("|---|---:|---:|---:|---:|")
    for url in URLS:
        for _ in range(2):
            response = client.get(url)
            if response.status_code != 200:
                return [f"{url} answered {response.status_code}"]
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        statements = len(queries.captured_queries)
        found = re.search(rb"\((\d+) in all", response.content)
        counted = f"{int(found.group(1)):,}" if found else "—"
        times = []
        for _ in range(renders):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        q = statistics.quantiles(times, n=20)
        p50 = statistics.median(times)
        print(f"| `{url}` | {p50:.0f} | {q[18]:.0f} | {statements} | {counted} |")
        if url == URLS[0] and p50 > TARGET_P50_MS:
            failures.append(f"{url}: p50 {p50:.0f} ms > {TARGET_P50_MS} ms")
    return failures


if __name__ == "__main__":
    main()
