"""CPU per request under daphne: the one-hop handler beside Django's many-hop path, in one run.

    .venv/bin/python bench/serve_hops.py [--n 300] [--blocks 3] [--concurrency 4]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/serve_hops.py

Daphne processes on one fresh database (SQLite in a temporary VAR_DIR, or
`bench_serve_hops` on PostgreSQL), with the production logging (JSON lines at
INFO, written to /dev/null): one serves escalation_project.asgi (a sync request
runs its whole middleware chain, view and signals in one call on its thread),
the other bench/asgi_apps/many_hops.py (Django's ASGIHandler.handle: each middleware
half, the view and the signals hop between the event loop and the thread).
For each kind of request — GET /healthz, an escalation create on a new
conversation, a message that fires nothing — `--n` requests at `--concurrency`
go to one server, then the same to the other, in alternating order, `--blocks`
times; each server's CPU (from /proc) over its share is divided by the requests.
Printed: the median CPU ms per request of each, the ratio, and requests/s. A
third server (one hop, LOG_LEVEL=WARNING: no access line) gives what logging at
INFO costs per request.
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
from collections import defaultdict

import _stack  # bench/ is on sys.path when run as a script
from _db import django_stack

BENCH_DATABASE = "bench_serve_hops"
ONE_HOP, MANY_HOPS = "escalation_project.asgi:application", "bench.asgi_apps.many_hops:application"
# name: (application, LOG_LEVEL). The third measures what the INFO lines cost (WARNING writes none).
SERVERS = {
    "many hops": (MANY_HOPS, "INFO"),
    "one hop": (ONE_HOP, "INFO"),
    "one hop, WARNING": (ONE_HOP, "WARNING"),
}
CONVERSATIONS = 32
KINDS = ("healthz", "create", "message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="requests per kind, server and block")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    env = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "API_RATE_AGENT_KEY": "1000000/minute"}
    with django_stack(BENCH_DATABASE, **env):
        servers: dict[str, subprocess.Popen] = {}
        try:
            key, conversation_ids = _prepare()
            ports = {}
            for name, (app, log_level) in SERVERS.items():
                servers[name], ports[name] = _start(app, log_level)
            cpu_ms: dict[tuple[str, str], list[float]] = defaultdict(list)
            per_second: dict[tuple[str, str], list[float]] = defaultdict(list)
            loads = [os.getloadavg()[0]]
            for block in range(args.blocks + 1):  # block 0 warms both up, uncounted
                order = list(SERVERS) if block % 2 else list(SERVERS)[::-1]
                for kind in KINDS:
                    for name in order:
                        pid = servers[name].pid
                        before, started = _stack.cpu_seconds(pid), time.perf_counter()
                        _load(ports[name], key, conversation_ids, kind, args, tag=f"{name}-{block}")
                        elapsed = time.perf_counter() - started
                        if block:
                            cpu_ms[kind, name].append((_stack.cpu_seconds(pid) - before) * 1000 / args.n)
                            per_second[kind, name].append(args.n / elapsed)
                loads.append(os.getloadavg()[0])
            _report(args, cpu_ms, per_second, loads)
            _log_line_costs()
        finally:
            _stack.stop(list(servers.values()))


def _prepare() -> tuple[str, list[int]]:
    from django.core.management import call_command

    from agents.keys import agent_key_create
    from agents.models import Agent, Conversation
    from supervisors.models import Team

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    # No rules: every message is a quiet one (stored, matched against nothing, answered).
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    _, key = agent_key_create(agent=agent, name="bench")
    conversations = [
        Conversation.objects.create(agent=agent, external_id=f"quiet-{n}") for n in range(CONVERSATIONS)
    ]
    return key, [conversation.pk for conversation in conversations]


def _start(app: str, log_level: str) -> tuple[subprocess.Popen, int]:
    port = _stack.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), app],
        cwd=_stack.ROOT,
        env={**os.environ, "LOG_LEVEL": log_level},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # the JSON access lines: formatted and written, as in production
    )
    _stack.wait_for_http(port, process=server)
    return server, port


def _load(port: int, key: str, conversation_ids: list[int], kind: str, args, *, tag: str) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    counter = iter(range(args.n))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            if kind == "healthz":
                connection.request("GET", "/healthz")
            elif kind == "create":
                body = {"conversation": f"{tag}-{number}", "reason": "Refund of $150", "severity": "warning"}
                connection.request("POST", "/api/v1/escalations/", json.dumps(body), headers)
            else:
                conversation = conversation_ids[number % len(conversation_ids)]
                body = {"role": "user", "content": "Thanks, that answers my question."}
                connection.request(
                    "POST", f"/api/v1/conversations/{conversation}/messages/", json.dumps(body), headers
                )
            response = connection.getresponse()
            payload = response.read()
            if response.status >= 300:
                with lock:
                    failures.append(f"{kind} {response.status} {payload[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"{len(failures)} failed requests, e.g. {failures[0]}")


def _report(args, cpu_ms, per_second, loads) -> None:
    from django.db import connection

    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · daphne ×1 each · "
        f"{args.n} requests × {args.blocks} blocks per kind and server, concurrency {args.concurrency} · "
        f"JSON logs at INFO · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"load {min(loads):.1f}–{max(loads):.1f}"
    )
    print()
    print("| request | CPU ms/request, many hops | one hop | many/one | requests/s, many hops | one hop |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        many, one = (statistics.median(cpu_ms[kind, name]) for name in ("many hops", "one hop"))
        ratios = [m / o for m, o in zip(cpu_ms[kind, "many hops"], cpu_ms[kind, "one hop"], strict=True)]
        rate_many, rate_one = (statistics.median(per_second[kind, name]) for name in ("many hops", "one hop"))
        print(
            f"| {kind} | {many:.2f} | {one:.2f} | {statistics.median(ratios):.2f}× "
            f"({min(ratios):.2f}–{max(ratios):.2f}) | {rate_many:.0f} | {rate_one:.0f} |"
        )
    print()
    print("Logging at INFO (one hop): CPU ms per request above the same server at WARNING, median (range)")
    for kind in KINDS:
        costs = [
            info - warning
            for info, warning in zip(cpu_ms[kind, "one hop"], cpu_ms[kind, "one hop, WARNING"], strict=True)
        ]
        print(f"  {kind}: {statistics.median(costs):+.3f} ({min(costs):+.3f} to {max(costs):+.3f})")


def _log_line_costs(lines: int = 5000, blocks: int = 5) -> None:
    """One access line through the JSON handler: ours beside python-json-logger's formatter
    configured as escalation_project/logs.py configured it before (same filter, same fields)."""
    import io
    import logging

    from pythonjsonlogger.json import JsonFormatter

    from escalation_project import request_id
    from escalation_project.logs import JsonLineFormatter

    formatters = {
        "python-json-logger": JsonFormatter(
            ["levelname", "name", "message", "request_id"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        ),
        "ours": JsonLineFormatter(),
    }
    loggers = {}
    for name, formatter in formatters.items():
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(formatter)
        handler.addFilter(request_id.RequestIdFilter())
        logger = logging.getLogger(f"bench.access.{name}")
        logger.propagate = False
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        loggers[name] = logger
    extra = {"method": "POST", "path": "/api/v1/escalations/", "status": 201, "duration_ms": 12.3}
    micros: dict[str, list[float]] = defaultdict(list)
    with request_id.bound(request_id.new()):
        for block in range(blocks):
            for name in list(loggers) if block % 2 else list(loggers)[::-1]:
                logger = loggers[name]
                started = time.process_time()
                for _ in range(lines):
                    logger.info("%s %s %s", "POST", "/api/v1/escalations/", 201, extra=extra)
                micros[name].append((time.process_time() - started) * 1e6 / lines)
    print()
    print(
        "One JSON access line (logger call, filter, format, write to memory), CPU µs, "
        f"load {os.getloadavg()[0]:.1f}:"
    )
    for name, values in micros.items():
        print(f"  {name}: median {statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})")


if __name__ == "__main__":
    main()
