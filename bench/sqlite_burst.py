"""A burst on the embedded default: 16 concurrent writers plus readers through daphne on SQLite.

    .venv/bin/python bench/sqlite_burst.py [--writers 16] [--rounds 10] [--readers 4]

What a newcomer's `make run` gets when several agents hit it at once: one daphne
process, a Celery worker (--concurrency=2, as runstack starts it) sending each
escalation's webhook to a local receiver (so tasks write while requests write),
SQLite in a temporary VAR_DIR (WAL, BEGIN IMMEDIATE, as in production settings)
and an embedded redis-server. Each writer thread, per round: an escalate_to_human
create on a new conversation, then a conversation create and a message on it that
fires a rule (which adds a second escalation). Meanwhile each reader signs in
through the console's login form (a session row, last_login, the lockout's
bookkeeping) and reads the queue and the history page until the writers are done.

Reports errors (any answer other than 2xx/3xx, or no answer) and p50/p99 per kind
of request, then checks every written row is in the database. Target: 0 errors.
With DATABASE_URL (PostgreSQL) the same burst runs on a fresh `bench_sqlite_burst`.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import statistics
import sys
import threading
import time
from collections import defaultdict

import _stack  # bench/ is on sys.path when run as a script
import requests
from _db import django_stack

BENCH_DATABASE = "bench_sqlite_burst"
PASSWORD = "burst-password-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10, help="create + conversation + message per writer")
    parser.add_argument("--readers", type=int, default=4)
    args = parser.parse_args()

    receiver_port = _stack.free_port()
    env = {
        "LOG_LEVEL": "WARNING",
        # The bench measures the database under a burst, not the rate limits.
        "API_RATE_AGENT_KEY": "1000000/minute",
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
    }
    with django_stack(BENCH_DATABASE, **env):
        processes = []
        try:
            key = _prepare(args.readers, receiver_port)
            processes.append(_stack.start_receiver(receiver_port))
            processes.append(_stack.start_celery("worker", "--concurrency=2"))
            servers, (port,) = _stack.start_daphne(1, log=sys.stderr)
            processes += servers
            results = _burst(f"http://127.0.0.1:{port}", key, args)
            _report(args, results)
        finally:
            _stack.stop(processes[::-1])  # daphne first, the receiver last


def _prepare(readers: int, receiver_port: int) -> str:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from agents.keys import agent_key_create
    from agents.models import Agent, EscalationRule, RuleKind
    from supervisors.models import Membership, Role, Team
    from webhooks.services import endpoint_create

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production settings: hashed names
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    EscalationRule.objects.create(
        agent=agent,
        name="Refunds",
        kind=RuleKind.PHRASES,
        parameters={"phrases": ["refund"]},
        reason_template="Customer asked for a refund",
    )
    endpoint_create(team=team, url=f"http://127.0.0.1:{receiver_port}/hook")
    for number in range(readers):
        user = get_user_model().objects.create_user(f"reader{number}", password=PASSWORD)
        Membership.objects.create(user=user, team=team, role=Role.SUPERVISOR)
    _, key = agent_key_create(agent=agent, name="burst")
    return key


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.created_escalations: set[int] = set()
        self.created_messages: set[int] = set()

    def record(self, kind: str, started: float, response: requests.Response | None, error: str = "") -> bool:
        elapsed = time.perf_counter() - started
        ok = response is not None and response.status_code < 400
        with self.lock:
            self.latencies[kind].append(elapsed)
            if not ok:
                detail = error or f"{response.status_code} {response.text[:200]}"
                self.errors.append(f"{kind}: {detail}")
        return ok


def _call(results: Results, kind: str, method, url: str, **kwargs) -> requests.Response | None:
    started = time.perf_counter()
    try:
        response = method(url, timeout=60, **kwargs)
    except requests.RequestException as error:
        results.record(kind, started, None, repr(error))
        return None
    return response if results.record(kind, started, response) else None


def _burst(base: str, key: str, args) -> Results:
    results = Results()
    start = threading.Barrier(args.writers + args.readers)
    writing = threading.Event()
    writing.set()
    as_agent = {"Authorization": f"Bearer {key}"}

    def writer(number: int) -> None:
        session = requests.Session()
        start.wait()
        for round_ in range(args.rounds):
            name = f"w{number}-r{round_}"
            created = _call(
                results, "create", session.post, f"{base}/api/v1/escalations/", headers=as_agent,
                json={"conversation": f"{name}-tool", "reason": "Refund of $150", "severity": "warning"},
            )  # fmt: skip
            if created is not None:
                with results.lock:
                    results.created_escalations.add(created.json()["id"])
            conversation = _call(
                results, "conversation", session.post, f"{base}/api/v1/conversations/", headers=as_agent,
                json={"external_id": f"{name}-chat"},
            )  # fmt: skip
            if conversation is None:
                continue
            posted = _call(
                results, "message", session.post,
                f"{base}/api/v1/conversations/{conversation.json()['id']}/messages/", headers=as_agent,
                json={"role": "user", "content": "I want a refund of my last invoice, please."},
            )  # fmt: skip
            if posted is not None:
                body = posted.json()
                with results.lock:
                    results.created_messages.add(body["message"]["id"])
                    if body.get("escalation"):
                        results.created_escalations.add(body["escalation"]["id"])

    def reader(number: int) -> None:
        session = requests.Session()
        start.wait()
        login_page = _call(results, "login", session.get, f"{base}/console/login/")
        token = (
            re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text) if login_page else None
        )
        if token is None:
            return
        signed_in = _call(
            results, "login", session.post, f"{base}/console/login/", allow_redirects=False,
            data={"username": f"reader{number}", "password": PASSWORD, "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{base}/console/login/"},
        )  # fmt: skip
        if signed_in is None:
            return
        while writing.is_set():
            _call(results, "console queue", session.get, f"{base}/console/")
            _call(results, "console history", session.get, f"{base}/console/history/")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(args.writers)]
    readers = [threading.Thread(target=reader, args=(n,)) for n in range(args.readers)]
    for thread in threads + readers:
        thread.start()
    for thread in threads:
        thread.join()
    writing.clear()
    for thread in readers:
        thread.join()
    return results


def _report(args, results: Results) -> None:
    from django.db import connection

    from agents.models import Message
    from escalations.models import Escalation

    version = f"SQLite {sqlite3.sqlite_version}" if connection.vendor == "sqlite" else connection.vendor
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {version} · 1 daphne · "
        f"{args.writers} writers × {args.rounds} rounds + {args.readers} readers · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · load {os.getloadavg()[0]:.2f} at the end"
    )
    print()
    print("| request | n | errors | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, latencies in results.latencies.items():
        ms = sorted(x * 1000 for x in latencies)
        quantiles = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
        errors = sum(1 for error in results.errors if error.startswith(f"{kind}:"))
        print(f"| {kind} | {len(ms)} | {errors} | {quantiles[49]:.1f} | {quantiles[98]:.1f} | {ms[-1]:.1f} |")
    stored_escalations = set(Escalation.objects.values_list("id", flat=True))
    stored_messages = set(Message.objects.filter(role="user").values_list("id", flat=True))
    missing = len(results.created_escalations - stored_escalations) + len(
        results.created_messages - stored_messages
    )
    print()
    print(f"Errors: {len(results.errors)}; rows answered as written but missing: {missing}")
    for error in sorted(set(results.errors))[:10]:
        print(f"  {error}")
    if results.errors or missing:
        sys.exit("Target: 0 errors, every written row stored.")


if __name__ == "__main__":
    main()
