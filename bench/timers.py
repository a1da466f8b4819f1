"""The timers' sweep: one sweep over 100,000 active escalations of which 1,000 are due.

    .venv/bin/python bench/timers.py [--escalations 100000] [--due 1000] [--batch 200]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/timers.py

1. Seeds `--escalations` open or claimed escalations in one team (bulk-inserted;
   a fifth claimed, with a claim lease in the future), every due time in the
   future except for `--due` open ones whose response target passed a few
   minutes ago: each of those is due for a response breach, a reminder (to
   the team's three members, by event and email task) and level 1 of the
   team's two-level ladder (the same three, by event and email task).
2. Prints each selection's plan at the moment (PostgreSQL: EXPLAIN ANALYZE;
   SQLite: EXPLAIN QUERY PLAN), and fails if one does not use the timer's
   partial index.
3. Times an idle sweep first (nothing due: what every beat tick costs), then
   the sweep that acts on the due rows, then a second sweep at the same moment
   (idempotence: it must act on nothing). For each: wall time, the process's
   CPU time, the number of SQL statements, how many of them were the selection
   (`timers.due_batch`, one per batch) and how many acted, per batch acted on.

Everything runs through the real services: each batch of due rows is one
transaction with its UPDATE, history rows, event rows (no webhook endpoints
here, so one query finds none), the on-commit broadcast of each event to Redis
and, for reminders and climbs, one email task per batch enqueued on the broker
(the embedded Redis; no worker runs). Always on a fresh database
`bench_timers_<pid>` on DATABASE_URL's server (dropped at the end), so two
runs on one server never share one; without DATABASE_URL, SQLite in a
temporary VAR_DIR. Keep REDIS_URL unset: the email
tasks would otherwise wait in that Redis's queue for whatever worker reads it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time

from _db import django_stack  # bench/ is on sys.path when run as a script

# Per run: other engineers may run this bench on the same server at the same time.
BENCH_DATABASE = f"bench_timers_{os.getpid()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalations", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=200, help="rows per selection query (TIMER_SWEEP_BATCH)")
    args = parser.parse_args()
    if os.environ.get("REDIS_URL"):
        sys.exit("Unset REDIS_URL: the bench enqueues email tasks on its own embedded Redis.")

    failures: list[str] = []
    with django_stack(BENCH_DATABASE, LOG_LEVEL="ERROR"):
        from django.db import connection

        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
            f"{os.cpu_count()} CPUs · Python {platform.python_version()} · load {os.getloadavg()[0]:.2f}"
        )
        now = _prepare(args.escalations, args.due)
        # Plans first, while the due rows are there: EXPLAIN ANALYZE only reads.
        failures += _plans(now, args.batch)
        failures += _bench_sweeps(now, args.batch, args.due)
    if failures:
        sys.exit("\n".join(failures))


def _prepare(n: int, due: int) -> dt.datetime:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from agents.models import Agent, Conversation
    from escalations.models import Escalation, LadderLevel, Origin, Status
    from supervisors.models import Membership, Role, Team

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Support", slug="support")
    agent = Agent.objects.create(team=team, name="Support Bot", slug="support-bot", description="Answers.")
    User = get_user_model()
    members = [User.objects.create_user(name, f"{name}@example.com", "x") for name in ("sam", "kim", "lee")]
    Membership.objects.bulk_create(Membership(user=user, team=team, role=Role.SUPERVISOR) for user in members)
    LadderLevel.objects.create(team=team, number=1, after_minutes=5)
    LadderLevel.objects.create(team=team, number=2, after_minutes=30, notify_owners=True)

    started = time.perf_counter()
    random.seed(7)
    now = timezone.now()
    minute = dt.timedelta(minutes=1)
    batch = 5000
    for first in range(0, n, batch):
        size = min(batch, n - first)
        conversations = Conversation.objects.bulk_create(
            Conversation(agent=agent, external_id=f"seed-{first + k}", channel="chat") for k in range(size)
        )
        rows = []
        for k, conversation in enumerate(conversations):
            number = first + k
            if number < due:  # open, its response target passed 1-14 minutes ago
                response_due = now - random.randint(1, 14) * minute
                claimed = False
            else:  # nothing due: the targets, the next reminder and any lease are ahead
                response_due = now + random.randint(1, 24 * 60) * minute
                claimed = number % 5 == 0
            rows.append(
                Escalation(
                    agent=agent,
                    team=team,
                    conversation=conversation,
                    channel="chat",
                    origin=Origin.RULE,
                    reason=f"Customer asked for a refund of ${random.randint(20, 900)}",
                    severity="warning",
                    urgency="medium",
                    status=Status.CLAIMED if claimed else Status.OPEN,
                    claimed_by=members[0] if claimed else None,
                    claimed_at=now - minute if claimed else None,
                    claim_expires_at=now + random.randint(1, 30) * minute if claimed else None,
                    response_due_at=response_due,
                    resolution_due_at=response_due + 180 * minute,
                    next_reminder_at=(response_due + 180 * minute) if claimed else response_due,
                    # Level 1 is due with the response target (due rows) or ahead; a claim stops the climb.
                    next_level_at=None if claimed else response_due,
                )
            )
        Escalation.objects.bulk_create(rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"Seeded {n:,} active escalations ({due:,} due) in {time.perf_counter() - started:.1f} s")
    return now


def _bench_sweeps(now: dt.datetime, batch: int, due: int) -> list[str]:
    failures = []
    print()
    print(f"Sweeps at one moment, batch {batch} (server time, in process):")
    print()
    print("| sweep | actions | wall ms | CPU ms | SQL statements | of which selection | acting, per batch |")
    print("|---|---|---:|---:|---:|---:|---:|")
    runs = [("idle (an hour earlier: nothing due)", now - dt.timedelta(hours=1)), ("the due work", now),
            ("again at the same moment", now)]  # fmt: skip
    for label, moment in runs:
        acted, elapsed, cpu, statements, selections, batches = _timed_sweep(moment, batch)
        actions = sum(acted.values())
        per_batch = f"{(statements - selections) / batches:.1f}" if batches else "—"
        shown = ", ".join(f"{name} {count}" for name, count in acted.items() if count) or "none"
        figures = f"{elapsed:,.0f} | {cpu:,.0f} | {statements:,} | {selections} | {per_batch}"
        print(f"| {label} | {shown} | {figures} |")
        expected = {"response_breach": due, "ladder": due, "reminder_open": due}
        if label == "the due work" and {name: count for name, count in acted.items() if count} != expected:
            failures.append(f"the sweep did {acted}, expected {due} breaches, climbs and reminders")
        if label.startswith("again") and actions:
            failures.append(f"a second sweep at the same moment acted again: {acted}")
    return failures


def _timed_sweep(moment: dt.datetime, batch: int) -> tuple[dict[str, int], float, float, int, int, int]:
    """(actions per timer, wall ms, CPU ms, SQL statements, of which selection queries, batches acted on)."""
    from unittest import mock

    from django.db import connection

    from escalations import timers

    real = timers.due_batch
    selections = statements = batches = 0

    def counted(*args, **kwargs):
        nonlocal selections, batches
        selections += 1
        rows = real(*args, **kwargs)
        batches += bool(rows)
        return rows

    def count_statement(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    # A wrapper rather than connection.queries: that keeps only the last 9,000.
    with connection.execute_wrapper(count_statement), mock.patch.object(timers, "due_batch", counted):
        started, cpu_started = time.perf_counter(), time.process_time()
        acted = timers.sweep(now=moment, batch_size=batch)
        elapsed = (time.perf_counter() - started) * 1000
        cpu = (time.process_time() - cpu_started) * 1000
    return acted, elapsed, cpu, statements, selections, batches


def _plans(now: dt.datetime, batch: int) -> list[str]:
    from django.db import connection

    from escalations import timers
    from escalations.models import TIMER_INDEXES, Escalation

    failures = []
    postgres = connection.vendor == "postgresql"
    print()
    print(f"Selection plans ({connection.vendor}), one batch:")
    print()
    for timer in timers.TIMERS:
        rows = Escalation.objects.filter(timer.condition, **{f"{timer.due_field}__lte": now})
        query = rows.order_by(timer.due_field, "pk").values_list(timer.due_field, "pk")[:batch]
        sql, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"{'EXPLAIN ANALYZE' if postgres else 'EXPLAIN QUERY PLAN'} {sql}", params)
            plan = [str(row[0] if postgres else row[-1]) for row in cursor.fetchall()]
        scan = next((line.strip() for line in plan if "SCAN" in line.upper()), plan[0])
        timing = next((line.strip() for line in plan if line.startswith("Execution Time")), "")
        print(f"- `{timer.name}`: {scan.split('  (')[0]}{'; ' + timing if timing else ''}")
        if TIMER_INDEXES[timer.name] not in "\n".join(plan):
            failures.append(
                f"{timer.name}: the selection does not use {TIMER_INDEXES[timer.name]}:\n" + "\n".join(plan)
            )
    return failures


if __name__ == "__main__":
    main()
