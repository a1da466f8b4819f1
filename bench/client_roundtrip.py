"""The Python client's overhead: escalate → a person answers → wait returns, client vs raw HTTP.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/test] [REDIS_URL=redis://127.0.0.1:6379/0] \\
        .venv/bin/python bench/client_roundtrip.py [--n 300]

One daphne on a fresh database `bench_client` (SQLite in a temporary VAR_DIR
without DATABASE_URL). Each round trip, as an agent does it: POST
/escalations/ (with an Idempotency-Key), the supervisor's respond (the same
raw requests call in every mode, not timed), then the long-poll GET
`?wait=50`, which returns at once since the answer is in. Three ways of making
the agent's two calls, interleaved round by round so they share the
machine's load: `escalation_console.Client`, raw `httpx.Client` and raw
`requests.Session` (what the examples used before the client), each with a keep-alive
connection. Printed: p50/p95 of the agent's two calls per mode, the ratio to
raw httpx, and the agent side's CPU per round trip.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import _stack  # bench/ is on sys.path when run as a script
from _db import django_stack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))
BENCH_DATABASE = "bench_client"
WAIT = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="round trips per mode (default 300)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    with django_stack(
        BENCH_DATABASE,
        LOG_LEVEL="WARNING",
        API_RATE_AGENT_KEY="1000000/minute",
        API_RATE_USER="1000000/minute",
    ):
        servers = []
        try:
            key, token = _prepare()
            servers, ports = _stack.start_daphne(1)
            _run(f"http://127.0.0.1:{ports[0]}", key, token, args)
        finally:
            _stack.stop(servers)


def _prepare() -> tuple[str, str]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from agents.keys import agent_key_create
    from agents.models import Agent
    from supervisors.models import Membership, Role, Team
    from supervisors.tokens import user_token_create

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    _, key = agent_key_create(agent=agent, name="bench")
    ana = get_user_model().objects.create_user("ana", "ana@example.com", "pw")
    Membership.objects.create(user=ana, team=team, role=Role.SUPERVISOR)
    _, token = user_token_create(user=ana)
    return key, token


def _run(base: str, key: str, token: str, args: argparse.Namespace) -> None:
    import httpx
    import requests
    from escalation_console import Client

    supervisor = requests.Session()
    supervisor.headers["Authorization"] = f"Token {token}"
    agent_headers = {"Authorization": f"Bearer {key}"}
    raw_httpx = httpx.Client(headers=agent_headers, timeout=30)
    raw_requests = requests.Session()
    raw_requests.headers.update(agent_headers)
    client = Client(base, key, timeout=30)
    api = base + "/api/v1"

    def answer(escalation_id: int) -> None:
        response = supervisor.post(f"{api}/escalations/{escalation_id}/respond/", json={"guidance": "Go on."})
        assert response.status_code == 200, response.text

    def body(i: int, mode: str) -> dict:
        return {"conversation": f"{mode}-{i}", "reason": "Refund of $150", "severity": "warning"}

    def with_client(i: int) -> float:
        started = time.perf_counter()
        escalation = client.escalate("Refund of $150", "warning", conversation=f"client-{i}")
        paused = time.perf_counter()
        answer(escalation.id)
        resumed = time.perf_counter()
        assert escalation.wait().guidance == "Go on."
        return time.perf_counter() - resumed + paused - started

    def with_httpx(i: int) -> float:
        started = time.perf_counter()
        created = raw_httpx.post(
            f"{api}/escalations/", json=body(i, "httpx"), headers={"Idempotency-Key": uuid.uuid4().hex}
        ).json()
        paused = time.perf_counter()
        answer(created["id"])
        resumed = time.perf_counter()
        final = raw_httpx.get(f"{api}/escalations/{created['id']}/", params={"wait": WAIT}, timeout=WAIT + 30)
        assert final.json()["resolution"]["guidance"] == "Go on."
        return time.perf_counter() - resumed + paused - started

    def with_requests(i: int) -> float:
        started = time.perf_counter()
        created = raw_requests.post(
            f"{api}/escalations/", json=body(i, "requests"), headers={"Idempotency-Key": uuid.uuid4().hex},
            timeout=30,
        ).json()  # fmt: skip
        paused = time.perf_counter()
        answer(created["id"])
        resumed = time.perf_counter()
        final = raw_requests.get(
            f"{api}/escalations/{created['id']}/", params={"wait": WAIT}, timeout=WAIT + 30
        )
        assert final.json()["resolution"]["guidance"] == "Go on."
        return time.perf_counter() - resumed + paused - started

    modes = {"escalation_console.Client": with_client, "raw httpx": with_httpx, "raw requests": with_requests}
    for i in range(args.warmup):
        for run in modes.values():
            run(-1 - i)
    times: dict[str, list[float]] = {name: [] for name in modes}
    cpu: dict[str, float] = {name: 0.0 for name in modes}
    load_before = os.getloadavg()[0]
    for i in range(args.n):
        for name, run in modes.items():
            cpu_started = time.process_time()
            times[name].append(run(i))
            # The supervisor's respond is in here too, the same call in every mode.
            cpu[name] += time.process_time() - cpu_started
    load_after = os.getloadavg()[0]

    from django.db import connection

    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor}"
        f" · one daphne · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"load {load_before:.2f} → {load_after:.2f}"
    )
    print()
    print("| agent's calls (escalate + wait) | p50 ms | p95 ms | × raw httpx (p50) | CPU per trip ms |")
    print("|---|---:|---:|---:|---:|")
    base_p50 = statistics.median(times["raw httpx"])
    for name, samples in times.items():
        ms = sorted(x * 1000 for x in samples)
        p50, p95 = statistics.median(ms), statistics.quantiles(ms, n=100)[94]
        print(
            f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / (base_p50 * 1000):.2f} | "
            f"{cpu[name] / args.n * 1000:.2f} |"
        )
    client.close()
    raw_httpx.close()


if __name__ == "__main__":
    main()
