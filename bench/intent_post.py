"""A message post's latency with and without 50 intent rules, side by side (issue 15: ≤ 3 ms slower).

    .venv/bin/python bench/intent_post.py [--n 400]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/intent_post.py

Two agents with the same 20 phrase rules; the second also has 50 intent rules
(10 should + 10 should-not examples each). post_message (the service the API's
POST …/messages/ calls: lock, insert, history read, matcher, commit) is timed
in-process, alternating between the two agents' conversations so both see the
same machine load. The messages are everyday support messages that fire
nothing, the common case. Throw-away database `bench_intent_post`, dropped at
the end (SQLite in a temporary folder without DATABASE_URL).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import django_stack  # noqa: E402
from triggers import VOCABULARY, make_intent_rules  # noqa: E402

BENCH_DATABASE = "bench_intent_post"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="timed posts per agent")
    args = parser.parse_args()
    with django_stack(BENCH_DATABASE, LOG_LEVEL="WARNING"):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args.n)


def run(n: int) -> None:
    from agents.engine import cache
    from agents.models import Agent, Conversation, EscalationRule
    from agents.services import post_message
    from supervisors.models import Team

    rng = random.Random(3)
    team = Team.objects.create(name="Bench")
    plain = Agent.objects.create(team=team, name="Phrases only", slug="phrases-only")
    with_intents = Agent.objects.create(team=team, name="With intents", slug="with-intents")
    for agent in (plain, with_intents):
        for k in range(20):
            EscalationRule.objects.create(
                agent=agent,
                name=f"phrases {k}",
                kind="phrases",
                parameters={"phrases": [f"zqx{k} word", f"qzv{k}*"]},
                reason_template="Said {phrase}",
                order=k,
            )
    for spec in make_intent_rules(rng, 50):
        EscalationRule.objects.create(
            agent=with_intents,
            name=spec.name,
            kind="intent",
            parameters=dict(spec.parameters),
            reason_template=spec.reason_template,
            order=100 + spec.id,
        )
    conversations = {
        agent.pk: Conversation.objects.create(agent=agent, external_id=f"bench-{agent.slug}", channel="chat")
        for agent in (plain, with_intents)
    }
    texts = [" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(8, 30))) for _ in range(n + 20)]
    cache.clear()
    timings: dict[int, list[float]] = {plain.pk: [], with_intents.pk: []}
    for index, text in enumerate(texts):
        for agent_id in (plain.pk, with_intents.pk) if index % 2 else (with_intents.pk, plain.pk):
            start = time.perf_counter()
            post_message(conversation=conversations[agent_id], role="user", content=text)
            if index >= 20:  # the first posts compile the matchers and load the model
                timings[agent_id].append((time.perf_counter() - start) * 1000)

    from django.db import connection

    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {connection.vendor}; "
        f"load average {os.getloadavg()[0]:.1f}; {n} posts per agent, alternating"
    )
    print()
    print("| agent's rules | p50 ms | p90 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|---:|")
    p50 = {}
    for agent_id, label in ((plain.pk, "20 phrase"), (with_intents.pk, "20 phrase + 50 intent")):
        values = sorted(timings[agent_id])
        p50[agent_id] = values[len(values) // 2]
        print(
            f"| {label} | {p50[agent_id]:.2f} | {values[int(len(values) * 0.9)]:.2f} "
            f"| {values[int(len(values) * 0.99)]:.2f} | {statistics.fmean(values):.2f} |"
        )
    print()
    difference = p50[with_intents.pk] - p50[plain.pk]
    print(f"p50 difference {difference:+.2f} ms, ratio {p50[with_intents.pk] / p50[plain.pk]:.2f}")


if __name__ == "__main__":
    main()
