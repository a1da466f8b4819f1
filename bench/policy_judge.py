"""Policy rules: what the judge costs a message post, and that a slow judge holds no lock.

    .venv/bin/python bench/policy_judge.py [--n 300] [--budget 0.5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/policy_judge.py

post_message in-process (no HTTP in front), on a fresh database (SQLite in a
temporary VAR_DIR unless DATABASE_URL names a PostgreSQL server; `bench_policy`
there, dropped at the end). The judge is tests/agents/fake_judge.py: a real
HTTP server on loopback that answers at once (so the figures are our overhead,
not a model's) or holds every request past the budget (a judge that hangs).
Each row is n posts of a new user message, each on its own conversation.

1. no policy rule: the baseline (what every agent without one pays: nothing
   more than a cached dict lookup);
2. one policy rule, judge answers at once, nothing cached: the round trip
   through a worker thread and loopback HTTP;
3. the same messages again: verdicts from the cache;
4. no policy rule, while another thread keeps posting to a policy agent whose
   judge hangs (each of its posts waits out the budget): if the judge were
   asked inside the post's transaction, every one of these posts would queue
   behind SQLite's write lock (or the conversation's row lock) for the budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _db import django_stack  # noqa: E402 (bench/ is on sys.path when run as a script)

BENCH_DATABASE = "bench_policy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="posts per row (default 300)")
    parser.add_argument("--budget", type=float, default=0.5, help="POLICY_JUDGE_TIMEOUT_SECONDS for row 4")
    args = parser.parse_args()
    with django_stack(BENCH_DATABASE, LOG_LEVEL="ERROR"):
        from django.conf import settings
        from django.core.management import call_command

        from tests.agents.fake_judge import FakeJudge, verdict_body

        call_command("migrate", interactive=False, verbosity=0)
        judge = FakeJudge().start()
        settings.POLICY_JUDGE_BASE_URL = judge.base_url
        settings.POLICY_JUDGE_MODEL = "bench"
        settings.POLICY_JUDGE_TIMEOUT_SECONDS = 5.0
        judge.answer = (200, verdict_body(escalate=False, reason="fine"))
        try:
            plain, policy = _agents()
            rows = []
            _posts(plain, 20, "warm")
            _posts(policy, 20, "warm")
            rows.append(("1. no policy rule", _posts(plain, args.n, "a")))
            rows.append(("2. policy rule, judge answers at once", _posts(policy, args.n, "b")))
            asked = len(judge.requests)
            rows.append(("3. policy rule, same messages (cached)", _posts(policy, args.n, "c")))
            cached_calls = len(judge.requests) - asked
            settings.POLICY_JUDGE_TIMEOUT_SECONDS = args.budget
            judge.hold = True
            judge.arrived.clear()
            stop = threading.Event()
            slow: list[float] = []
            hanging = threading.Thread(target=_keep_posting, args=(policy, stop, slow))
            hanging.start()
            try:
                assert judge.arrived.wait(10), "the hung judge was never asked"
                before = len(slow)  # its posts that ended before row 4 began
                rows.append(
                    ("4. no policy rule, beside posts waiting on a hung judge", _posts(plain, args.n, "d"))
                )
                during = len(slow) - before
            finally:
                stop.set()
                hanging.join()
            _report(args, rows, cached_calls, slow, during)
        finally:
            judge.stop()


def _agents():
    from agents.models import Agent, EscalationRule
    from supervisors.models import Team

    team = Team.objects.create(name="Bench", slug="bench")
    plain = Agent.objects.create(team=team, name="Plain", slug="plain", description="No policy rules.")
    policy = Agent.objects.create(team=team, name="Judged", slug="judged", description="Refunds desk.")
    for agent in (plain, policy):
        EscalationRule.objects.create(
            agent=agent,
            name="Refunds",
            kind="phrases",
            parameters={"phrases": ["chargeback"]},
            reason_template="r",
        )
    EscalationRule.objects.create(
        agent=policy,
        name="Policy",
        kind="policy",
        parameters={"policy": "Escalate legal threats.", "last_n": 6},
        reason_template="{verdict}",
    )
    return plain, policy


def _posts(agent, n: int, tag: str) -> list[float]:
    """n posts, each the first user message of a new conversation <tag>-<i> (made untimed).

    The i-th message reads the same whatever the tag: another tag asks the judge the
    same questions again (row 3)."""
    from agents.models import Agent, Conversation
    from agents.services import post_message

    latencies = []
    for i in range(n):
        external_id = f"{tag}-{i}"
        conversation = Conversation.objects.create(agent=agent, external_id=external_id)
        conversation.agent = Agent.objects.get(pk=agent.pk)  # as the API view has it: read in this request
        started = time.perf_counter()
        post_message(conversation=conversation, role="user", content=f"Where is my order number {i}?")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _keep_posting(agent, stop: threading.Event, slow: list[float]) -> None:
    from django.db import connection

    from agents.models import Agent, Conversation
    from agents.services import post_message

    try:
        i = 0
        while not stop.is_set():
            conversation = Conversation.objects.create(agent=agent, external_id=f"hung-{i}")
            conversation.agent = Agent.objects.get(pk=agent.pk)
            started = time.perf_counter()
            post_message(conversation=conversation, role="user", content=f"I will sue you, {i}")
            slow.append((time.perf_counter() - started) * 1000)
            i += 1
    finally:
        connection.close()


def _report(args, rows, cached_calls: int, slow: list[float], during: int) -> None:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"policy judge bench: {engine}, n={args.n}, Python {platform.python_version()}, load {load}")
    print("| posts | p50 ms | p95 ms | mean ms | p50 vs row 1 |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(rows[0][1])
    for name, latencies in rows:
        ordered = sorted(latencies)
        p50 = statistics.median(ordered)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {statistics.fmean(ordered):.2f} | {p50 / base:.2f}x |")
    print(f"calls to the judge in row 3: {cached_calls} (all cached: 0)")
    print(
        f"row 4: its {len(rows[3][1])} posts took {sum(rows[3][1]) / 1000:.2f} s in all; meanwhile "
        f"{during} posts to the hung judge ended, each after its budget of {args.budget * 1000:.0f} ms "
        f"(p50 {statistics.median(slow) if slow else float('nan'):.0f} ms)"
    )


if __name__ == "__main__":
    main()
