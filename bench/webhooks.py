"""Webhook deliveries: a real Celery worker process sending to a local receiver that answers at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/webhooks.py [--n 4000] [--endpoints 4] [--pool threads] [--concurrency 8]

The real path: each escalation opened through escalations.services writes
its Event and one Delivery per endpoint in one transaction and enqueues them
on commit (deliver.delay); one `celery worker` process (options as given)
claims, signs, POSTs and records each attempt. The receiver is a stdlib
threaded HTTP/1.1 server in its own process answering 204 with no work.

1. Drain: N deliveries are enqueued with the worker stopped, then the worker
   starts; deliveries/s = N / (end of the last attempt - start of the first).
2. Paced: with the worker running, escalations are opened at a steady
   --rate deliveries/s for --seconds; enqueue -> first attempt is the
   Delivery's insert to its first Attempt's start, from the database.

--silent N adds N endpoints to the team whose receiver takes the connection and
never answers (a socket that listens and never reads), as a receiver that is
down behind a load balancer: every send to it waits out the sender's 15 s
timeout until the endpoint rests. The figures are the answering endpoints';
the silent ones' attempts and rest are printed after them.

Always a fresh database `bench_webhooks_<pid>` (dropped at the end) and its own
Celery queue, so other workers on a shared Redis neither take nor add tasks.
Without DATABASE_URL: SQLite in a temporary VAR_DIR; without REDIS_URL: an
embedded redis-server. Targets (issue 5): >= 200 deliveries/s with one
worker process, enqueue -> first attempt p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _stack  # bench/ is on sys.path when run as a script
from _db import django_stack

ROOT = Path(__file__).resolve().parent.parent
# Per run: several engineers (or two runs) share one PostgreSQL server, and the bench drops its database.
BENCH_DATABASE = f"bench_webhooks_{os.getpid()}"
SILENT_PATH = "/silent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="deliveries in the drain (default 4000)")
    parser.add_argument("--endpoints", type=int, default=4, help="endpoints per event (default 4)")
    parser.add_argument("--pool", default="threads", help="the worker's --pool (default threads)")
    parser.add_argument("--concurrency", type=int, default=4, help="the worker's --concurrency (default 4)")
    parser.add_argument(
        "--prefetch-multiplier", type=int, default=None, help="the worker's (default: the setting, 1)"
    )
    parser.add_argument("--rate", type=float, default=100, help="paced deliveries/s (default 100)")
    parser.add_argument("--seconds", type=float, default=20, help="paced phase length (default 20)")
    parser.add_argument(
        "--silent", type=int, default=0, help="endpoints per event that never answer (default 0)"
    )
    args = parser.parse_args()
    queue = f"bench-webhooks-{os.getpid()}"
    with django_stack(
        BENCH_DATABASE, LOG_LEVEL="WARNING", WEBHOOKS_ALLOW_LOOPBACK="true", CELERY_QUEUE=queue
    ):
        port = _stack.free_port()
        processes: list[subprocess.Popen] = []
        # Listens and never reads: the kernel completes each handshake, no answer ever comes.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4096)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}{SILENT_PATH}"
        try:
            processes.append(_stack.start_receiver(port))
            agent = _prepare(f"http://127.0.0.1:{port}", args.endpoints, silent_url, args.silent)

            first_id = _open(agent, args.n // args.endpoints, prefix="drain")
            worker = _start_worker(args)
            processes.append(worker)
            expected = args.n // args.endpoints * args.endpoints
            drain = _wait_done(first_id, expected, timeout=600, worker=worker.pid)

            paced_first_id = _paced(agent, args.rate / args.endpoints, args.seconds)
            paced = _wait_done(paced_first_id, None, timeout=120)
            cpu = _cpu_seconds(worker.pid)
            _report(args, drain, paced, cpu)
            if args.silent:
                _report_silent()
        finally:
            _stack.stop(processes)
            silent.close()
        _stack.purge_queue(queue)


def _prepare(receiver: str, endpoints: int, silent_url: str, silent: int):
    from django.core.management import call_command

    from agents.models import Agent
    from supervisors.models import Team
    from webhooks import services

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    for n in range(endpoints):
        services.endpoint_create(team=team, url=f"{receiver}/hook/{n}")
    for _ in range(silent):
        services.endpoint_create(team=team, url=silent_url)
    return agent


def _open_one(agent, external_id: str) -> None:
    from agents.models import Conversation
    from escalations import services
    from escalations.models import Origin

    conversation = Conversation.objects.create(agent=agent, external_id=external_id)
    services.open_escalation(conversation=conversation, origin=Origin.TOOL_CALL, reason="Refund of $150")


def _open(agent, count: int, *, prefix: str) -> int:
    """Open `count` escalations; return the first Delivery id they made."""
    from webhooks.models import Delivery

    before = Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for i in range(count):
        _open_one(agent, f"{prefix}-{i}")
    return before + 1


def _paced(agent, events_per_second: float, seconds: float) -> int:
    from webhooks.models import Delivery

    before = Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
    started = time.perf_counter()
    for i in range(int(events_per_second * seconds)):
        # On schedule, not as fast as possible: the latency of a queue at full tilt only measures the queue.
        delay = started + i / events_per_second - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        _open_one(agent, f"paced-{i}")
    return before + 1


def _start_worker(args) -> subprocess.Popen:
    prefetch = [f"--prefetch-multiplier={args.prefetch_multiplier}"] if args.prefetch_multiplier else []
    return _stack.start_celery(
        "worker", f"--pool={args.pool}", f"--concurrency={args.concurrency}", *prefetch
    )


def _wait_done(first_id: int, expected: int | None, *, timeout: float, worker: int | None = None) -> dict:
    """Wait until every delivery from first_id on has succeeded; return their timings.

    With the worker's pid: also its CPU per delivery in the steady middle of the
    run (from 10% to 90% done), which leaves out the worker's start-up (imports,
    connections: a second or more of CPU) and the tail.
    """
    from django.db.models import Count

    from webhooks.models import Attempt, Delivery, DeliveryStatus

    deliveries = Delivery.objects.filter(id__gte=first_id).exclude(endpoint__url__endswith=SILENT_PATH)
    total = expected if expected is not None else deliveries.count()
    deadline = time.monotonic() + timeout
    samples: list[tuple[int, float]] = []  # (succeeded, worker CPU seconds)
    while (done := deliveries.filter(status=DeliveryStatus.SUCCEEDED).count()) < total:
        if worker is not None:
            samples.append((done, sum(_cpu_seconds(worker))))
        if time.monotonic() > deadline:
            counts = dict(deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
            sys.exit(f"not all deliveries succeeded within {timeout} s: {counts}")
        time.sleep(0.25)
    middle = [(n, cpu) for n, cpu in samples if total * 0.1 <= n <= total * 0.9]
    steady_ms = None
    if len(middle) >= 2 and middle[-1][0] > middle[0][0]:
        steady_ms = (middle[-1][1] - middle[0][1]) / (middle[-1][0] - middle[0][0]) * 1000
    answering = Attempt.objects.filter(delivery__in=deliveries)
    attempts = list(
        answering.filter(number=1).values_list("started_at", "duration_ms", "delivery__created_at")
    )
    starts = [started for started, _, _ in attempts]
    ends = [started.timestamp() + ms / 1000 for started, ms, _ in attempts]
    return {
        "count": len(attempts),
        "attempts": answering.count(),
        "seconds": max(ends) - min(s.timestamp() for s in starts),
        "wait_ms": sorted((started - created).total_seconds() * 1000 for started, _, created in attempts),
        "duration_ms": sorted(ms for _, ms, _ in attempts),
        "steady_cpu_ms": steady_ms,
    }


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time so far of the worker's main process, and of its children (a prefork pool's)."""
    return _stack.cpu_seconds(pid), sum(_stack.cpu_seconds(child) for child in _stack.children(pid))


def _q(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100)[percent - 1] if len(values) > 1 else values[0]


def _report(args, drain: dict, paced: dict, cpu: tuple[float, float]) -> None:
    from django.db import connection

    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
        f"worker --pool={args.pool} --concurrency={args.concurrency} "
        f"--prefetch-multiplier={args.prefetch_multiplier or 1} · {args.endpoints} endpoints · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"load {os.getloadavg()[0]:.2f} at the end"
    )
    print()
    columns = "deliveries | attempts | deliveries/s | wait p50 ms | wait p95 ms | wait max ms"
    print(f"| phase | {columns} | POST p50 ms | POST p95 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, phase in (
        ("drain (backlog, worker started after)", drain),
        (f"paced at {args.rate:.0f}/s", paced),
    ):
        print(
            f"| {name} | {phase['count']} | {phase['attempts']} | {phase['count'] / phase['seconds']:.0f} | "
            f"{_q(phase['wait_ms'], 50):.0f} | {_q(phase['wait_ms'], 95):.0f} | {phase['wait_ms'][-1]:.0f} | "
            f"{_q(phase['duration_ms'], 50):.0f} | {_q(phase['duration_ms'], 95):.0f} |"
        )
    total = drain["count"] + paced["count"]
    print()
    main, children = cpu
    print(
        f"Worker CPU per delivery (both phases): {(main + children) / total * 1000:.2f} ms "
        f"(main process {main / total * 1000:.2f}, pool children {children / total * 1000:.2f})"
    )
    if drain["steady_cpu_ms"] is not None:
        print(f"Worker CPU per delivery in the drain, 10% -> 90% done: {drain['steady_cpu_ms']:.2f} ms")
    print(
        "(wait = Delivery inserted -> first attempt started; in the drain it is mostly time in the backlog)"
    )
    if drain["attempts"] != drain["count"] or paced["attempts"] != paced["count"]:
        sys.exit("Some deliveries needed more than one attempt: the figures above are not valid.")


def _report_silent() -> None:
    from django.db.models import Count

    from webhooks.models import Attempt, Delivery, Endpoint

    silent = Endpoint.objects.filter(url__endswith=SILENT_PATH)
    deliveries = Delivery.objects.filter(endpoint__in=silent)
    by_status = dict(deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    attempts = Attempt.objects.filter(delivery__in=deliveries).count()
    rests = list(silent.values_list("rest_seconds", flat=True))
    print()
    print(
        f"Silent endpoints: {deliveries.count()} deliveries ({by_status}), {attempts} attempts "
        f"(each waited out the send timeout); rest at the end: {rests} s"
    )


if __name__ == "__main__":
    main()
