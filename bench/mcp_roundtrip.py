"""escalate_to_human over MCP (/mcp/, the official client) beside the same over the REST API.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/mcp_roundtrip.py [--n 40]

One daphne, one agent, one supervisor. Each round trip: the agent escalates and
waits; a responder thread, watching the database every 5 ms, answers each new
escalation over the REST API at once. The paths take turns, round by round, so all
three share the machine's load:
- REST: POST /api/v1/escalations/, then GET /escalations/{id}/?wait=60 (the long-poll);
- MCP: one call of the escalate_to_human tool (a session opened once, as a client keeps it);
- stdio: the same call to escalation-console-mcp (clients/python, started once by the official
  client over stdio, as a desktop client starts it), which makes the REST calls with AsyncClient.
Reported: the median and p90 of the whole round trip, and of "answer -> agent", from the
responder sending its respond to the agent holding the guidance: the answer's way back.
The ratio MCP / REST is the MCP layer's overhead; stdio / MCP the bridge's (a second process,
and the REST long-poll in 15 s slices behind it). Always on a fresh database `bench_mcp`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import _stack  # bench/ is on sys.path when run as a script
import requests
from _db import django_stack

BENCH_DATABASE = "bench_mcp"
CLIENT_SOURCE = Path(__file__).resolve().parent.parent / "clients" / "python" / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="round trips per path (default 40)")
    args = parser.parse_args()

    with django_stack(BENCH_DATABASE, LOG_LEVEL="WARNING", API_RATE_AGENT_KEY="1000000/minute"):
        servers = []
        try:
            agent_id, key, token = _prepare()
            servers, ports = _stack.start_daphne(1)
            base = f"http://127.0.0.1:{ports[0]}"
            responder = Responder(base, token, agent_id)
            responder.start()
            try:
                samples = _interleaved(base, key, responder, 3, args.n)
            finally:
                responder.stop.set()
                responder.join(timeout=35)  # before daphne stops under a respond in flight
            _report(args, samples["REST"], samples["MCP"], samples["stdio"])
        finally:
            _stack.stop(servers)


def _prepare() -> tuple[int, str, str]:
    from django.core.management import call_command

    from agents.keys import agent_key_create
    from agents.models import Agent
    from supervisors.models import Membership, Role, Team
    from supervisors.tokens import user_token_create

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    _, key = agent_key_create(agent=agent, name="bench")
    from django.contrib.auth import get_user_model

    ana = get_user_model().objects.create_user("ana", password="x")
    Membership.objects.create(user=ana, team=team, role=Role.SUPERVISOR)
    _, token = user_token_create(user=ana)
    return agent.pk, key, token


class Responder(threading.Thread):
    """Answers every open escalation of the agent over the REST API; notes when each answer was sent."""

    def __init__(self, base: str, token: str, agent_id: int) -> None:
        super().__init__(daemon=True)
        self.base, self.agent_id = base, agent_id
        self.headers = {"Authorization": f"Token {token}"}
        self.answered_at: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from escalations.models import Escalation

        while not self.stop.wait(0.005):
            for pk in Escalation.objects.filter(agent_id=self.agent_id, status="open").values_list(
                "pk", flat=True
            ):
                self.answered_at[pk] = time.perf_counter()  # sent: the agent may hear before we do
                response = requests.post(
                    f"{self.base}/api/v1/escalations/{pk}/respond/",
                    json={"guidance": "Go ahead."},
                    headers=self.headers,
                    timeout=30,
                )
                assert response.status_code == 200, response.text
        connection.close()


def _rest_trip(http: requests.Session, base: str, responder: Responder) -> tuple[float, float]:
    started = time.perf_counter()
    created = http.post(
        f"{base}/api/v1/escalations/",
        json={"conversation": f"rest-{time.time_ns()}", "reason": "Refund?", "severity": "warning"},
        timeout=30,
    )
    pk = created.json()["id"]
    final = http.get(f"{base}/api/v1/escalations/{pk}/?wait=60", timeout=90).json()
    done = time.perf_counter()
    assert final["resolution"]["guidance"] == "Go ahead.", final
    return done - started, done - responder.answered_at[pk]


async def _tool_trip(session, responder: Responder) -> tuple[float, float]:
    started = time.perf_counter()
    result = await session.call_tool(
        "escalate_to_human", {"reason": "Refund?", "severity": "warning", "wait_seconds": 60}
    )
    done = time.perf_counter()
    text = result.content[0].text
    assert text.endswith("Go ahead."), text
    pk = int(text.split("escalation ", 1)[1].split(" ", 1)[0])
    return done - started, done - responder.answered_at[pk]


def _interleaved(base: str, key: str, responder: Responder, warmup: int, n: int) -> dict[str, list]:
    """Round by round, one trip per path in turn, so the three share the machine's load."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    bridge = StdioServerParameters(
        command=sys.executable,
        args=["-m", "escalation_console.mcp_stdio"],
        env={"ESCALATION_API_URL": base, "ESCALATION_AGENT_KEY": key, "PYTHONPATH": str(CLIENT_SOURCE)},
    )
    rest = requests.Session()
    rest.headers["Authorization"] = f"Bearer {key}"

    async def run() -> dict[str, list]:
        samples: dict[str, list] = {"REST": [], "MCP": [], "stdio": []}
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with (
            http,
            streamable_http_client(f"{base}/mcp/", http_client=http) as (read, write),
            ClientSession(read, write) as over_http,
            stdio_client(bridge) as (stdio_read, stdio_write),
            ClientSession(stdio_read, stdio_write) as over_stdio,
        ):
            await over_http.initialize()
            await over_stdio.initialize()
            for round_number in range(warmup + n):
                trips = {
                    # The REST trip blocks (requests): in a thread, so the sessions' streams keep flowing.
                    "REST": await asyncio.to_thread(_rest_trip, rest, base, responder),
                    "MCP": await _tool_trip(over_http, responder),
                    "stdio": await _tool_trip(over_stdio, responder),
                }
                if round_number >= warmup:  # warm-up: connections, the fan-out's subscription
                    for name, trip in trips.items():
                        samples[name].append(trip)
        return samples

    return asyncio.run(run())


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms  p90 {p90 * 1000:6.1f} ms"


def _report(args, rest: list[tuple[float, float]], mcp: list[tuple[float, float]], stdio) -> None:
    database = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(f"escalate_to_human round trips, n={args.n} per path, {database}, {platform.python_version()}")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name, samples in (("REST", rest), ("MCP", mcp), ("stdio", stdio)):
        totals, after = [s[0] for s in samples], [s[1] for s in samples]
        print(f"{name:5} round trip {_ms(totals)}   answer -> agent {_ms(after)}")
    ratio = statistics.median(s[0] for s in mcp) / statistics.median(s[0] for s in rest)
    print(f"MCP / REST, median round trip: {ratio:.2f}x")
    bridge = statistics.median(s[0] for s in stdio) / statistics.median(s[0] for s in mcp)
    print(f"stdio / MCP, median round trip: {bridge:.2f}x")


if __name__ == "__main__":
    main()
