"""Escalation creates over real HTTP, as a multiple of the floor (issue 17), per server.

    .venv/bin/python bench/api_create.py [--n 1000] [--concurrency 16] [--servers daphne,gthread,sync]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/api_create.py
    .venv/bin/python bench/api_create.py --compare /work/wt-baseline [--rounds 2]

Each request is an agent's escalate_to_human on a new conversation: auth, conversation
get-or-create, the locked open, history, event, commit, broadcast. Measured under each
`--servers` (daphne, gunicorn sync or gthread workers), beside GET /healthz under the same
server and the floor: GET /healthz under gunicorn sync workers of the same code. Printed:
creates/s, p50/p99, server CPU per request (/proc) and its multiple of the floor.

Without DATABASE_URL, `make run`'s defaults: SQLite in a temporary VAR_DIR, text logs, one
server process. With it, a fresh database `bench_api_<k>` on that server (dropped after),
two server processes, JSON logs (production's default). Each side (`--code`, `--compare`)
has its own database and embedded Redis (bench/_requests.py). Any answer but 201 makes the
run invalid (exit 1).

Targets (issue 17): ≤ 6× the floor; ≥ 3× the creates/s and ≤ ⅓ the CPU per create of
today's code side by side; p99 ≤ 300 ms on SQLite (c16), ≤ 4× its p50 on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json

import _requests  # bench/ is on sys.path when run as a script

BENCH_DATABASE = "bench_api"


def created(status: int, body: bytes) -> str | None:
    return None if status == 201 else f"create answered {status}"


def plan(side: _requests.Side) -> _requests.Plan:
    def creates(run: int):
        def request(i: int) -> _requests.Request:
            body = {"conversation": f"run{run}-{i}", "reason": "Customer asked for a refund of $150",
                    "severity": "warning"}  # fmt: skip
            return "POST", "/api/v1/escalations/", json.dumps(body).encode()

        return request

    return [("POST /api/v1/escalations/", creates, created)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _requests.add_arguments(parser, n=1000)
    args = parser.parse_args()
    _requests.run(args, BENCH_DATABASE, conversations=0, plan=plan, title="api_create.py")


if __name__ == "__main__":
    main()
