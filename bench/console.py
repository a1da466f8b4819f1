"""The console under load: the queue page with 100,000 open escalations, and API create -> websocket.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/console.py [--escalations 100000] [--sockets 50,500] [--creates 100] \\
        [--servers 1]

1. Queue page: `--escalations` open or claimed escalations (bulk-inserted,
   mixed severities, urgencies, ages, a fifth claimed) in one team, a
   supervisor of that team, and GET /console/ through Django's handler in
   this process (server time: no network, no browser), for the default
   order and a few filters and sorts. Prints p50/p95 per URL and the number
   of queries per render, and fails if a render counts the whole table
   (a `COUNT(*)` without `GROUP BY`) or if the number of queries differs
   between URLs of the same shape.
2. Create -> websocket: `--servers` daphne processes (default one), `--sockets` supervisors each
   with a console socket (/ws/console/, session cookie, same-origin), then
   `--creates` escalate_to_human calls over HTTP, one every 20 ms. Latency is
   from just before the POST is sent to the moment each socket has the
   event, over every (socket, event) pair.

Targets (issue 4): queue p50 <= 30 ms for a 50-row page; create -> socket p50
<= 25 ms and p99 <= 100 ms with 50 sockets, p99 <= 300 ms with 500.
Always on a fresh database `bench_console` (dropped at the end); without
DATABASE_URL, SQLite in a temporary VAR_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _stack  # bench/ is on sys.path when run as a script
from _db import django_stack

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "bench_console"
CONNECT_WAVE = 50  # sockets opened at once
WARM_UP_CREATES = 10  # per socket count, before the timed ones
# An escalation.created frame of a timed create, and the create's tag (its reason).
CREATED_TAG = re.compile(r'"event_type": "escalation\.created".*?"reason": "(bench create \d+)"')
QUEUE_URLS = [
    "/console/",
    "/console/?sort=newest",
    "/console/?sort=due",
    "/console/?severity=critical",
    "/console/?claimed=unclaimed&sort=due",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--escalations", type=int, default=100_000)
    parser.add_argument("--renders", type=int, default=100, help="timed renders per queue URL")
    parser.add_argument("--sockets", default="50,500", help="comma-separated socket counts")
    parser.add_argument("--creates", type=int, default=100, help="creates per socket count")
    parser.add_argument(
        "--servers", type=int, default=1, help="daphne processes; sockets and creates spread round-robin"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="the first daphne answers the API, the others hold the sockets (a load balancer "
        "routing /ws/ to its own processes); needs --servers 2 or more",
    )
    parser.add_argument("--skip-queue", action="store_true")
    parser.add_argument("--skip-sockets", action="store_true")
    args = parser.parse_args()
    if args.split and args.servers < 2:
        parser.error("--split needs --servers 2 or more")

    failures: list[str] = []
    env = {
        "LOG_LEVEL": "WARNING",
        "API_RATE_AGENT_KEY": "1000000/minute",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # Others' runs on a shared Redis have a team 1 too; their events are not ours.
        "CHANNEL_LAYER_PREFIX": f"bench-console-{os.getpid()}",
    }
    with django_stack(BENCH_DATABASE, **env):
        from django.db import connection

        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
            f"{os.cpu_count()} CPUs · Python {platform.python_version()} · load {os.getloadavg()[0]:.2f}"
        )
        world = _prepare(args.escalations)
        if not args.skip_queue:
            failures += _bench_queue(world, args.renders)
        if not args.skip_sockets:
            for count in [int(x) for x in args.sockets.split(",") if x]:
                _bench_sockets(world, count, args.creates, args.servers, split=args.split)
    if failures:
        sys.exit("\n".join(failures))


# --- Data ---------------------------------------------------------------------------


def _prepare(n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from agents.keys import agent_key_create
    from agents.models import Agent, Conversation
    from escalations.models import Escalation, Origin, Status
    from supervisors.models import Membership, Role, Team

    call_command("migrate", interactive=False, verbosity=0)
    # Production settings serve hashed static files from a manifest in VAR_DIR (a fresh temp dir here).
    call_command("collectstatic", interactive=False, verbosity=0)
    team = Team.objects.create(name="Support", slug="support")
    other = Team.objects.create(name="Legal", slug="legal")
    agent = Agent.objects.create(team=team, name="Support Bot", slug="support-bot", description="Answers.")
    other_agent = Agent.objects.create(team=other, name="Legal Bot", slug="legal-bot", description="Law.")
    _, key = agent_key_create(agent=agent, name="bench")
    User = get_user_model()
    supervisor = User.objects.create_user("sam", password="x")
    Membership.objects.create(user=supervisor, team=team, role=Role.SUPERVISOR)

    started = time.perf_counter()
    random.seed(7)
    now = timezone.now()
    batch = 5000
    for first in range(0, n, batch):
        size = min(batch, n - first)
        owner = [other_agent if (first + k) % 10 == 9 else agent for k in range(size)]
        conversations = Conversation.objects.bulk_create(
            Conversation(agent=owner[k], external_id=f"seed-{first + k}", channel="chat") for k in range(size)
        )
        escalations = []
        for k, conversation in enumerate(conversations):
            created = now - dt.timedelta(minutes=random.randint(0, 60 * 24 * 3))
            severity = random.choices(["info", "warning", "critical"], weights=[5, 4, 1])[0]
            urgency = {"info": "low", "warning": "medium", "critical": "high"}[severity]
            claimed = k % 5 == 0
            escalations.append(
                Escalation(
                    agent=owner[k],
                    team_id=owner[k].team_id,
                    conversation=conversation,
                    channel="chat",
                    origin=Origin.RULE,
                    reason=f"Customer asked for a refund of ${random.randint(20, 900)}",
                    severity=severity,
                    urgency=urgency,
                    status=Status.CLAIMED if claimed else Status.OPEN,
                    claimed_by=supervisor if claimed else None,
                    claimed_at=created + dt.timedelta(minutes=5) if claimed else None,
                    response_due_at=created + dt.timedelta(minutes=60),
                    resolution_due_at=created + dt.timedelta(minutes=240),
                )
            )
        made = Escalation.objects.bulk_create(escalations)
        # created_at is auto_now_add: spread the ages afterwards, as a real queue has them.
        for escalation, row in zip(made, escalations, strict=True):
            escalation.created_at = row.response_due_at - dt.timedelta(minutes=60)
        Escalation.objects.bulk_update(made, ["created_at"], batch_size=batch)
    if connection_vendor() == "postgresql":
        from django.db import connection

        with connection.cursor() as cursor:
            # VACUUM too: it marks the bulk-loaded pages all-visible, as autovacuum soon would on a
            # live table, so the counts' index-only scan need not visit the heap.
            cursor.execute("VACUUM ANALYZE")
    print(f"Seeded {n:,} open/claimed escalations (9 in 10 in the supervisor's team) in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    return {"team": team, "agent": agent, "key": key, "supervisor": supervisor}


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


# --- 1. The queue page --------------------------------------------------------------------


def _bench_queue(world: dict, renders: int) -> list[str]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(world["supervisor"])
    failures = []
    query_counts: dict[str, int] = {}
    print()
    print(f"Queue page, {renders} renders per URL (server time, in process):")
    print()
    print("| URL | p50 ms | p95 ms | queries | rows shown |")
    print("|---|---:|---:|---:|---:|")
    for url in QUEUE_URLS:
        for _ in range(5):
            response = client.get(url)
            if response.status_code != 200:
                return [f"{url} answered {response.status_code}"]
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        # Read now: captured_queries slices the connection's log, which the next request resets.
        statements = [q["sql"].upper() for q in queries.captured_queries]
        query_counts[url] = len(statements)
        whole_counts = [sql for sql in statements if "COUNT(" in sql and "GROUP BY" not in sql]
        if whole_counts:
            failures.append(f"{url} counts the whole table: {whole_counts[0][:200]}")
        times = []
        for _ in range(renders):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        rows = response.content.count(b"data-escalation-id=")
        q = statistics.quantiles(times, n=100)
        print(f"| `{url}` | {q[49]:.1f} | {q[94]:.1f} | {len(statements)} | {rows} |")
    # The counts are cached until the next event (escalations.selectors.active_counts), so
    # the renders above, with no event between them, read them from the cache. After an
    # event the first render of any console counts again: that render's time, too.
    from django.core.cache import cache

    times = []
    for _ in range(renders):
        cache.clear()
        started = time.perf_counter()
        client.get("/console/")
        times.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(times, n=100)
    print(f"| `/console/`, counts not cached (the first render after an event) | {q[49]:.1f} | {q[94]:.1f} | "
          f"{query_counts['/console/'] + 1} | 50 |")  # fmt: skip
    # Every URL here is a first page of 50 rows: filters and sorts must not add queries.
    if len(set(query_counts.values())) > 1:
        failures.append(f"the number of queries differs between URLs: {query_counts}")
    return failures


# --- 2. API create -> websocket ------------------------------------------------------


def _bench_sockets(world: dict, count: int, creates: int, servers: int, *, split: bool) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from supervisors.models import Membership, Role

    User = get_user_model()
    cookies = []
    for k in range(count):
        user, _ = User.objects.get_or_create(username=f"watcher-{k}")
        Membership.objects.get_or_create(user=user, team=world["team"], defaults={"role": Role.SUPERVISOR})
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)

    # BENCH_SERVER_LOG=path keeps daphne's stderr: an exception inside the app shows there only.
    server_log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "w")  # noqa: SIM115
    processes, ports = _stack.start_daphne(servers, log=server_log)
    try:
        # Split: the API on the first process, the sockets on the rest.
        api_ports, socket_ports = (ports[:1], ports[1:]) if split else (ports, ports)
        api_processes, socket_processes = (processes[:1], processes[1:]) if split else (processes, [])

        def cpu_now() -> dict[str, float]:
            return {
                "daphne": sum(_stack.cpu_seconds(process.pid) for process in api_processes),
                "sockets": sum(_stack.cpu_seconds(process.pid) for process in socket_processes),
                "client": sum(os.times()[:2]),
            }

        result = asyncio.run(_measure(api_ports, socket_ports, cookies, world["key"], creates, cpu_now))
    finally:
        _stack.stop(processes)
        server_log.close()
    ms = sorted(result["latencies"])
    q = statistics.quantiles(ms, n=100)
    answered = statistics.quantiles(result["answered"], n=100)
    spread = statistics.quantiles(result["spread"], n=100)
    layout = " (API on one, sockets on the rest)" if split else ""
    print()
    print(
        f"Create -> websocket, {count} sockets, {servers} daphne{layout}, "
        f"{creates} creates (one every 20 ms): "
        f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {ms[-1]:.1f} ms; "
        f"{len(ms):,} deliveries, {result['missing']} missing"
    )
    print(
        f"  POST answered p50 {answered[49]:.1f} ms, p99 {answered[98]:.1f} ms; first to last socket "
        f"per create p50 {spread[49]:.1f} ms, p99 {spread[98]:.1f} ms; {count} sockets connected in "
        f"{result['connect_seconds']:.1f} s ({CONNECT_WAVE} at a time, {result['connect_retries']} retried); "
        f"load {os.getloadavg()[0]:.2f}"
    )
    cpu = {name: spent * 1000 / creates for name, spent in result["cpu"].items()}
    daphne = (
        f"API daphne {cpu['daphne']:.1f}, socket daphnes {cpu['sockets']:.1f}"
        if split
        else (f"daphne {cpu['daphne']:.1f}")
    )
    print(f"  CPU per create (ms, the event's fan-out included): {daphne}, client {cpu['client']:.1f}")


async def _measure(
    api_ports: list[int],
    socket_ports: list[int],
    cookies: list[str],
    key: str,
    creates: int,
    cpu_now: Callable[[], dict[str, float]],
) -> dict:
    import websockets
    from django.conf import settings

    sent: dict[str, float] = {}
    answered: list[float] = []
    arrivals: dict[str, list[float]] = {}
    seen = 0

    async def watch(socket) -> None:
        nonlocal seen
        # A plain receive loop, no per-message timeout task: the client shares the 2 cores
        # with the server, and its own overhead would count as latency.
        # The tag is found in the raw frame, not by decoding it: with 500 sockets the
        # client reads 500 frames per create on the same 2 cores, and json.loads of each
        # was a third of its CPU (bench/README.md).
        async for raw in socket:
            at = time.perf_counter()
            found = CREATED_TAG.search(raw)
            if found is None:
                continue
            tag = found[1]
            if tag in sent:
                arrivals.setdefault(tag, []).append(at)
                seen += 1

    retries = 0

    async def connect(k: int, cookie: str):
        nonlocal retries
        port = socket_ports[k % len(socket_ports)]  # as a load balancer would spread them
        for attempt in range(5):
            try:
                return await websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/console/",
                    origin=f"http://127.0.0.1:{port}",
                    additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
                    max_queue=None,
                )
            except (OSError, websockets.exceptions.InvalidHandshake):
                # daphne drops a handshake its app has not accepted within 5 s; a browser
                # would reconnect after a pause, and so does the bench (counted, printed).
                if attempt == 4:
                    raise
                retries += 1
                await asyncio.sleep(1 + attempt)

    # In waves: all at once, daphne closes the sockets its app has not accepted within
    # its 5 s connect timeout (a reconnect storm; see bench/README.md).
    started = time.perf_counter()
    sockets = []
    for first in range(0, len(cookies), CONNECT_WAVE):
        wave = range(first, min(first + CONNECT_WAVE, len(cookies)))
        sockets += await asyncio.gather(*(connect(k, cookies[k]) for k in wave))
    connect_seconds = time.perf_counter() - started
    watchers = [asyncio.create_task(watch(socket)) for socket in sockets]
    # Every socket has joined its groups, and the last (coalesced) presence announcement
    # of the connects has gone out (PRESENCE_ANNOUNCE_MS): neither is part of the figures.
    await asyncio.sleep(1.5)

    def post(i: int, *, timed: bool = True) -> None:
        tag = f"bench create {i}" if timed else f"warm-up {i}"
        body = json.dumps({"conversation": f"ws-{len(cookies)}-{tag}", "reason": tag, "severity": "critical"})
        connection = http.client.HTTPConnection("127.0.0.1", api_ports[i % len(api_ports)], timeout=30)
        started = time.perf_counter()
        if timed:
            sent[tag] = started
        connection.request(
            "POST", "/api/v1/escalations/", body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )  # fmt: skip
        response = connection.getresponse()
        response.read()
        if timed:
            answered.append((time.perf_counter() - started) * 1000)
        if response.status != 201:
            raise RuntimeError(f"create answered {response.status}")

    # Each server's first requests load code and fill caches (team configuration): untimed.
    for i in range(WARM_UP_CREATES):
        await asyncio.to_thread(post, i, timed=False)
    await asyncio.sleep(0.5)
    cpu_before = cpu_now()
    for i in range(creates):
        await asyncio.to_thread(post, i)
        await asyncio.sleep(0.02)
    deadline = time.monotonic() + 10
    while seen < creates * len(cookies) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = {name: spent - cpu_before[name] for name, spent in cpu_now().items()}
    for watcher in watchers:
        watcher.cancel()
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    return {
        "latencies": [(at - sent[tag]) * 1000 for tag, times in arrivals.items() for at in times],
        "spread": [(max(times) - min(times)) * 1000 for times in arrivals.values()],
        "answered": answered,
        "missing": creates * len(cookies) - seen,
        "connect_seconds": connect_seconds,
        "connect_retries": retries,
        "cpu": cpu,
    }


if __name__ == "__main__":
    main()
