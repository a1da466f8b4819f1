"""The SQL statements and the in-process CPU of the hot API requests, this code beside another.

    .venv/bin/python bench/statements.py --baseline /tmp/base [--n 300] [--rounds 2]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/8 \
        .venv/bin/python bench/statements.py --baseline /tmp/base

--baseline is a checkout of the code to compare with, e.g. made with
`git archive 03e5b92 | tar -x -C /tmp/base` (the commit before the statement diet).
Each round runs one process per checkout, one after the other, so the two see the same
machine and load; the table gives each figure's median over the rounds and the ratio.

A process: Django from its checkout, a throw-away database (SQLite in a temporary
VAR_DIR, or a fresh `bench_statements` database on the server of a PostgreSQL
DATABASE_URL, dropped after), REDIS_URL or else an embedded redis-server, production
settings (JSON access logs at INFO, the team configuration kept). It drives the API
view in process with Django's test Client and an agent key, warm, and counts per
request: the statements (one request captured) and CPU ms (time.process_time over
--n requests, which includes what a server would spend on the request apart from
the HTTP server itself) for
  - create: POST /api/v1/escalations/ on a new conversation (escalate_to_human);
  - quiet message: POST /api/v1/conversations/{id}/messages/ that fires no rule;
  - opening message: one whose rule opens an escalation (a fresh conversation each);
  - stamp read: the one query a team's settings stamp costs where the unit of work has
    not read the team already (escalations.team_config), alone.
With no --baseline it measures this checkout only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
BENCH_DATABASE = "bench_statements"
REQUESTS = ("create", "quiet message", "opening message", "stamp read")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--n", type=int, default=300, help="requests timed per kind (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="processes per checkout, alternating")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # run in this checkout
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.n)))
        return
    trees = {"new": ROOT} if args.baseline is None else {"old": args.baseline.resolve(), "new": ROOT}
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(run_child(tree, args.n))
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(
        f"{database}, n={args.n} per kind, {args.rounds} round(s); "
        f"load before {load_before}, after {load_after}"
    )
    print()
    names = list(trees)
    header = ["request", *(f"statements {n}" for n in names), *(f"CPU ms {n}" for n in names)]
    if len(names) == 2:
        header.append("CPU new/old")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for request in REQUESTS:
        statements = [runs[n][0][request]["statements"] for n in names]
        cpu = [statistics.median(run[request]["cpu_ms"] for run in runs[n]) for n in names]
        row = [request, *map(str, statements), *(f"{ms:.2f}" for ms in cpu)]
        if len(names) == 2:
            row.append(f"{cpu[1] / cpu[0]:.2f}")
        print("| " + " | ".join(row) + " |")


def run_child(tree: Path, n: int) -> dict:
    # The child imports Django and the app from `tree`: its root first on sys.path (ahead
    # of the editable install's finder, which only answers what sys.path does not).
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(HERE), "--child", str(tree), "--n", str(n)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{tree}: the measuring process failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(tree: Path, n: int) -> dict:
    sys.path.insert(0, str(tree))
    workdir = tempfile.TemporaryDirectory(prefix="bench-statements-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="escalation_project.settings",
        VAR_DIR=workdir.name,
        # One key sends every request here: the per-key limit would refuse most of them.
        API_RATE_AGENT_KEY="100000000/minute",
    )
    sys.path.insert(1, str(HERE.parent))
    from _db import drop_database, use_fresh_postgres_database

    admin_url = use_fresh_postgres_database(BENCH_DATABASE)
    redis = None
    if not os.environ.get("REDIS_URL"):
        from escalation_project.embedded_redis import free_port, start

        port = free_port()
        redis = start(port, Path(workdir.name) / "redis")
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    import django

    django.setup()
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return _requests(n)
    finally:
        from django.db import connections

        connections.close_all()
        if admin_url:
            drop_database(admin_url, BENCH_DATABASE)
        if redis is not None:
            from escalation_project.embedded_redis import stop

            stop(redis)
        workdir.cleanup()


def _requests(n: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import escalation_project
    from agents.keys import agent_key_create
    from agents.models import Conversation
    from tests import factories

    assert Path(escalation_project.__file__).resolve().is_relative_to(Path.cwd())  # the right checkout
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    factories.make_rule(agent)  # "refund" opens an escalation
    _, key = agent_key_create(agent=agent, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="localhost")

    def post(url: str, body: dict) -> None:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 201, (url, response.status_code, response.content[:500])

    quiet = factories.make_conversation(agent, "quiet")
    fresh = [Conversation.objects.create(agent=agent, external_id=f"open-{i}") for i in range(n + 60)]
    requests = {
        "create": lambda i: post(
            "/api/v1/escalations/",
            {"conversation": f"new-{i}", "reason": "Refund of $500", "severity": "info"},
        ),
        "quiet message": lambda i: post(
            f"/api/v1/conversations/{quiet.pk}/messages/",
            {"role": "user", "content": f"Where is parcel {i}?"},
        ),
        "opening message": lambda i: post(
            f"/api/v1/conversations/{fresh[i].pk}/messages/", {"role": "user", "content": "I want a refund"}
        ),
    }
    results = {}
    for name, request in requests.items():
        for i in range(n, n + 50):  # warm: caches filled, a conversation's window of history full
            request(i)
        with CaptureQueriesContext(connection) as captured:
            request(n + 50)
        statements = len(captured)  # now: the next request clears the log it reads from
        started_cpu, started = time.process_time(), time.perf_counter()
        for i in range(n):
            request(i)
        results[name] = {
            "statements": statements,
            "cpu_ms": (time.process_time() - started_cpu) * 1000 / n,
            "wall_ms": (time.perf_counter() - started) * 1000 / n,
        }
    # What a team's settings stamp costs where no team was read in the unit of work
    # (escalations.team_config): the query every create and opening made before the diet.
    from supervisors.models import Team

    stamp = Team.objects.filter(pk=team.pk).values_list("settings_version", "created_at")
    started_cpu = time.process_time()
    for _ in range(n * 10):
        list(stamp.all())
    results["stamp read"] = {"statements": 1, "cpu_ms": (time.process_time() - started_cpu) * 100 / n}
    return results


if __name__ == "__main__":
    main()
