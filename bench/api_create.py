"""Escalation creates over real HTTP: POST /api/v1/escalations/ at concurrency 16.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/api_create.py [--n 3000] [--concurrency 16] [--servers 2]

The production shape on this machine: `--servers` daphne processes on
loopback (an agent round-robins between them, as a load balancer would),
PostgreSQL and Redis. Each request is the escalate_to_human tool call of an
agent key on a new conversation: auth, conversation get-or-create, the
locked open, history, event, commit, broadcast. Always on a fresh database
`bench_api` (dropped at the end); without DATABASE_URL, SQLite in a temporary
VAR_DIR (one writer at a time: expect far less). Target (issue 3): >= 300/s,
p99 <= 150 ms with PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import _stack  # bench/ is on sys.path when run as a script
from _db import django_stack

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "bench_api"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="timed requests (default 3000)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--servers", type=int, default=2, help="daphne processes (default 2)")
    args = parser.parse_args()

    # The bench measures the service, not the rate limit.
    with django_stack(BENCH_DATABASE, LOG_LEVEL="WARNING", API_RATE_AGENT_KEY="1000000/minute"):
        servers: list[subprocess.Popen] = []
        try:
            key = _prepare()
            servers, ports = _stack.start_daphne(args.servers)
            _load(ports, key, args.warmup, args.concurrency, prefix="warm")
            cpu_before = _cpu_seconds(servers)
            started = time.perf_counter()
            latencies, statuses = _load(ports, key, args.n, args.concurrency, prefix="run")
            elapsed = time.perf_counter() - started
            cpu = {name: after - cpu_before[name] for name, after in _cpu_seconds(servers).items()}
            floor_started = time.perf_counter()
            floor_latencies, _ = _load(ports, key, args.n, args.concurrency, prefix="floor", path="/healthz")
            floor_elapsed = time.perf_counter() - floor_started
            _report(args, latencies, statuses, elapsed, cpu, floor_latencies, floor_elapsed)
        finally:
            _stack.stop(servers)


def _prepare() -> str:
    from django.core.management import call_command

    from agents.keys import agent_key_create
    from agents.models import Agent
    from supervisors.models import Team

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    _, key = agent_key_create(agent=agent, name="bench")
    return key


def _cpu_seconds(servers: list[subprocess.Popen]) -> dict[str, float]:
    """CPU time used so far by the daphne processes, PostgreSQL's processes and this one (the client)."""
    return {
        "daphne": sum(_stack.cpu_seconds(server.pid) for server in servers),
        "postgres": _stack.postgres_cpu_seconds(),
        "client": sum(os.times()[:2]),
    }


def _load(ports: list[int], key: str, n: int, concurrency: int, *, prefix: str, path: str = ""):
    """n creates (or GETs of `path`) from `concurrency` threads, each with a keep-alive connection;
    round-robin over the servers."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(n))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def worker(number: int) -> None:
        port = ports[number % len(ports)]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: dict[int, int] = {}
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            started = time.perf_counter()
            if path:
                connection.request("GET", path)
            else:
                body = json.dumps(
                    {"conversation": f"{prefix}-{i}", "reason": "Customer asked for a refund of $150",
                     "severity": "warning"}
                )  # fmt: skip
                connection.request("POST", "/api/v1/escalations/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses


def _report(args, latencies, statuses, elapsed, cpu, floor_latencies, floor_elapsed) -> None:
    from django.db import connection

    ms = sorted(x * 1000 for x in latencies)
    quantiles = statistics.quantiles(ms, n=100)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
        f"{args.servers} daphne · concurrency {args.concurrency} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · load {os.getloadavg()[0]:.2f} at the end"
    )
    print()
    print("| requests | creates/s | p50 ms | p95 ms | p99 ms | max ms | statuses |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items()))
    print(
        f"| {len(ms)} | {len(ms) / elapsed:.0f} | {quantiles[49]:.1f} | {quantiles[94]:.1f} | "
        f"{quantiles[98]:.1f} | {ms[-1]:.1f} | {codes} |"
    )
    n = len(ms)
    print()
    print(
        "CPU per create (ms): "
        + ", ".join(f"{name} {seconds / n * 1000:.2f}" for name, seconds in cpu.items())
        + f"; all {sum(cpu.values()) / n * 1000:.2f} of the {os.cpu_count()} cores' "
        f"{os.cpu_count() * elapsed / n * 1000:.2f} ms per create"
    )
    floor = sorted(x * 1000 for x in floor_latencies)
    floor_q = statistics.quantiles(floor, n=100)
    print(
        f"Floor, GET /healthz (Django + daphne + one SELECT 1) with the same client: "
        f"{len(floor) / floor_elapsed:.0f}/s, p50 {floor_q[49]:.1f} ms, p99 {floor_q[98]:.1f} ms"
    )
    if set(statuses) != {201}:
        sys.exit("Some requests did not answer 201: the figures above are not valid.")


if __name__ == "__main__":
    main()
