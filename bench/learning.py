"""The console's rule page with a full labelled history (issue 15 §2: learning from verdicts).

    .venv/bin/python bench/learning.py [--labelled 500] [--renders 10] [--kind phrases|intent]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/learning.py

One agent, one phrase rule ("money back", "refund*", "reimburse*"), and
`--labelled` conversations where it fired through post_message, marked needed
(requests) or not needed (policy and status questions, several phrasings) in
turn: the rule page then re-runs the rule on every labelled trigger message,
picks an exception phrase per shown suggestion and re-runs the changed rule
for the precision after, for 20 suggestions. `--kind intent`: an intent rule
on refund requests instead, its escalations opened on the same messages
(through open_escalation with the rule's evidence, since an intent rule need
not fire on every one of them); each suggestion is a should / should-not
example, and each re-run embeds the messages with the intent model.
Side by side, on the same data and in the same process: the rule's What if…
over the last 30 days (the existing page that replays the same conversations
with the same compiler), and the insights' rule suggestions page.
Prints p50/p95 per page and each one's ratio to What if…; GETs go through
Django's handler in this process (server time: no network, no browser).

Always on a fresh database `bench_learning` (dropped at the end); without
DATABASE_URL, SQLite in a temporary VAR_DIR.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from _db import django_stack  # bench/ is on sys.path when run as a script

BENCH_DATABASE = "bench_learning"
NEEDED = [
    "I want my money back for order {n}",
    "Please refund order {n}, it arrived broken",
    "Reimburse me for the parcel {n} that never came",
]
NOT_NEEDED = [
    "What is your money back policy for item {n}?",
    "Has my refund for order {n} been processed yet?",
    "Where can I read the refund policy? Asking about {n}",
    "Is the money back guarantee valid for product {n}?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labelled", type=int, default=500)
    parser.add_argument("--renders", type=int, default=10, help="timed renders per page")
    parser.add_argument("--kind", choices=["phrases", "intent"], default="phrases")
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
        user, rule = _prepare(args.labelled, args.kind)
        _measure(user, rule, args.renders)


INTENT = {
    "description": "refund requests",
    "should": ["I want my money back", "please refund my order", "can I get a refund for this"],
    "should_not": ["what is your refund policy?", "my refund has not arrived yet", "thanks for the refund"],
}


def _prepare(n: int, kind: str):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from agents.models import Agent, Conversation, EscalationRule, Message
    from agents.services import post_message
    from escalations.models import Escalation, Origin
    from escalations.services import open_escalation
    from supervisors.models import Membership, Role, Team

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    team = Team.objects.create(name="Support", slug="support")
    user = get_user_model().objects.create_user("cora", password="pw")
    Membership.objects.create(user=user, team=team, role=Role.CONTRIBUTOR)
    agent = Agent.objects.create(team=team, name="Shop", slug="shop", description="Answers shop questions.")
    parameters = INTENT if kind == "intent" else {"phrases": ["money back", "refund*", "reimburse*"]}
    rule = EscalationRule.objects.create(
        agent=agent, name="Money back", kind=kind, parameters=parameters, reason_template="Money back"
    )
    started = time.perf_counter()
    needed_ids, not_needed_ids = [], []
    for k in range(n):
        templates, ids = (NEEDED, needed_ids) if k % 2 == 0 else (NOT_NEEDED, not_needed_ids)
        conversation = Conversation.objects.create(agent=agent, external_id=f"c{k}")
        text = templates[k // 2 % len(templates)].format(n=1000 + k)
        if kind == "phrases":
            ids.append(post_message(conversation=conversation, role="user", content=text).escalation.pk)
            continue
        message = Message.objects.create(conversation=conversation, role="user", content=text)
        evidence = [{"source": "rule", "rule_id": rule.pk, "message_id": message.pk, "text": text}]
        opened = open_escalation(
            conversation=conversation, origin=Origin.RULE, rule=rule, reason="Money back", evidence=evidence
        )
        ids.append(opened.escalation.pk)
    now = timezone.now()
    Escalation.objects.filter(pk__in=needed_ids).update(needed=True, marked_by=user, marked_at=now)
    Escalation.objects.filter(pk__in=not_needed_ids).update(needed=False, marked_by=user, marked_at=now)
    print(f"{n} labelled escalations of a {kind} rule made in {time.perf_counter() - started:.1f} s")
    return user, rule


def _measure(user, rule, renders: int) -> None:
    from django.test import Client

    from agents import learning

    client = Client()
    client.force_login(user)
    pages = {
        "What if… (30 days, the reference)": f"/admin/agents/escalationrule/{rule.pk}/what-if/?days=30",
        "Rule page (suggestions, precision before/after)": f"/console/rules/{rule.pk}/",
        "Insights rule suggestions (30 days)": "/console/insights/suggestions/?agent=shop&days=30",
    }
    user.is_staff = True  # the What if… page is the admin's
    user.save(update_fields=["is_staff"])
    found = learning.suggestions_for(rule)
    print(
        f"rule page: {found.labelled} labelled, {found.pending} waiting, {len(found.suggestions)} shown; "
        f"precision now {found.before.precision:.2f}, after the first suggestion "
        f"{found.suggestions[0].after.precision:.2f} (“{found.suggestions[0].text}”)"
    )
    results = {}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(renders):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = (statistics.median(times), sorted(times)[max(0, int(len(times) * 0.95) - 1)])
    reference = results[next(iter(pages))][0]
    print("| page | p50 ms | p95 ms | p50 / What if… |")
    print("|---|---:|---:|---:|")
    for name, (p50, p95) in results.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / reference:.2f} |")


if __name__ == "__main__":
    main()
