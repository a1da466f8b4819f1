"""Conversation messages over real HTTP, as a multiple of the floor (issue 17), per server.

    .venv/bin/python bench/messages.py [--n 1000] [--concurrency 16] [--servers daphne,gthread,sync]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/messages.py
    .venv/bin/python bench/messages.py --compare /work/wt-baseline [--rounds 2]

The hot path of a conversation: POST /api/v1/conversations/{id}/messages/ by the agent's key,
a customer's message that the agent's rules run on. Two requests, each measured under every
`--servers` (daphne, gunicorn sync or gthread workers):
- *quiet*: fires no rule, spread over 64 conversations (each grows by n/64 messages);
- *escalating*: contains the phrase of the agent's one phrase rule, so it opens an escalation,
  each on a conversation of its own (seeded, since an open escalation pauses its conversation).
Beside them GET /healthz under the same server and the floor, GET /healthz under gunicorn sync
workers of the same code. Printed: messages/s, p50/p99, server CPU per message (/proc) and its
multiple of the floor. Every answer is checked: 201, and an escalation in the body exactly
for the escalating messages (else the run is invalid, exit 1).

Databases, logs and sides as in api_create.py (bench/_requests.py): SQLite with `make run`'s
defaults without DATABASE_URL, else a fresh `bench_messages_<k>` database dropped after.

Targets (issue 17): a quiet message ≤ 4× the floor, one that opens an escalation ≤ 7×;
p99 ≤ 300 ms on SQLite (c16).
"""

from __future__ import annotations

import argparse
import json

import _requests  # bench/ is on sys.path when run as a script
from _seed import RULE_PHRASE

BENCH_DATABASE = "bench_messages"
QUIET_CONVERSATIONS = 64
REQUESTS_IN_PLAN = 2


def posted(*, escalates: bool):
    def check(status: int, body: bytes) -> str | None:
        if status != 201:
            return f"message answered {status}"
        opened = json.loads(body).get("escalation") is not None
        if opened != escalates:
            return "opened an escalation" if opened else "opened no escalation"
        return None

    return check


def plan_for(args):
    per_measurement = args.n + args.warmup

    def plan(side: _requests.Side) -> _requests.Plan:
        quiet_ids = side.conversations[:QUIET_CONVERSATIONS]
        fresh_ids = side.conversations[QUIET_CONVERSATIONS:]

        def quiet(run: int):
            def request(i: int) -> _requests.Request:
                body = {"role": "user", "content": f"Thanks, the tracking number {run}-{i} works now."}
                return "POST", f"/api/v1/conversations/{quiet_ids[i % len(quiet_ids)]}/messages/", _json(body)

            return request

        def escalating(run: int):
            def request(i: int) -> _requests.Request:
                conversation = fresh_ids[run * per_measurement + i]
                body = {"role": "user", "content": f"Order {run}-{i} arrived broken, {RULE_PHRASE} please."}
                return "POST", f"/api/v1/conversations/{conversation}/messages/", _json(body)

            return request

        return [
            ("POST …/messages/ quiet", quiet, posted(escalates=False)),
            ("POST …/messages/ opens an escalation", escalating, posted(escalates=True)),
        ]

    return plan


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _requests.add_arguments(parser, n=1000)
    args = parser.parse_args()
    # One fresh conversation per escalating message of every measurement (the run numbers
    # count the /healthz and quiet measurements too, so some go unused).
    fresh = _requests.measurements_per_side(args, REQUESTS_IN_PLAN) * (args.n + args.warmup)
    _requests.run(
        args,
        BENCH_DATABASE,
        conversations=QUIET_CONVERSATIONS + fresh,
        plan=plan_for(args),
        title="messages.py",
    )


if __name__ == "__main__":
    main()
