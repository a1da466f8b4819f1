"""Where the CPU of a hot API request goes: cProfile over many of them, in process.

    .venv/bin/python bench/profile_requests.py [--request create|quiet|opening] [--n 300] [--top 25]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python bench/profile_requests.py --request quiet

The requests and the setting are bench/statements.py's (production settings, JSON access
logs at INFO, Django's test Client with an agent key, warm caches; a throw-away database
and Redis), so the two scripts' figures go together: statements.py says how much, this
says where. Printed: the functions with the most time of their own (tottime), the most
time under them (cumtime), and each package's share of the time of its own (Django, DRF,
psycopg, logging, ours...). The log lines go to /dev/null (formatted and written all the same).
A profiler slows Python code more than C code, so shares are a guide, not a measure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _db import django_stack  # noqa: E402

BENCH_DATABASE = "bench_profile"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--request", choices=("create", "quiet", "opening"), default="create")
    parser.add_argument("--n", type=int, default=300, help="requests profiled (default 300)")
    parser.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    parser.add_argument("--dump", type=Path, help="also write the profile here (for pstats, snakeviz)")
    args = parser.parse_args()
    # The access log lines are written, as in production, but not to this terminal.
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)
    sys.stderr = devnull
    # One key sends every request here: the per-key limit would refuse most of them.
    with django_stack(BENCH_DATABASE, API_RATE_AGENT_KEY="100000000/minute"):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        request = _request(args.request, args.n)
        for i in range(args.n, args.n + 50):  # warm: caches filled, a conversation's history full
            request(i)
        profile = cProfile.Profile()
        profile.enable()
        for i in range(args.n):
            request(i)
        profile.disable()
    sys.stderr = sys.__stderr__
    if args.dump:
        profile.dump_stats(args.dump)
    _report(profile, args)


def _request(kind: str, n: int):
    from django.test import Client

    from agents.keys import agent_key_create
    from agents.models import Conversation
    from tests import factories

    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    factories.make_rule(agent)  # "refund" opens an escalation
    _, key = agent_key_create(agent=agent, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="localhost")

    def post(url: str, body: dict) -> None:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 201, (url, response.status_code, response.content[:500])

    if kind == "create":
        return lambda i: post(
            "/api/v1/escalations/",
            {"conversation": f"new-{i}", "reason": "Refund of $500", "severity": "info"},
        )
    if kind == "quiet":
        quiet = factories.make_conversation(agent, "quiet")
        return lambda i: post(
            f"/api/v1/conversations/{quiet.pk}/messages/",
            {"role": "user", "content": f"Where is parcel {i}?"},
        )
    fresh = [Conversation.objects.create(agent=agent, external_id=f"open-{i}") for i in range(n + 60)]
    return lambda i: post(
        f"/api/v1/conversations/{fresh[i].pk}/messages/", {"role": "user", "content": "I want a refund"}
    )


def _report(profile: cProfile.Profile, args) -> None:
    stats = pstats.Stats(profile)
    total = stats.total_tt
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(
        f"{args.request}, {database}, n={args.n}: "
        f"{total * 1000 / args.n:.2f} ms per request under the profiler"
    )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
        print(f"\n--- top {args.top} by {order} ---")
        print(out.getvalue().split("\n", 6)[-1].rstrip())
    own: dict[str, float] = defaultdict(float)
    for (filename, _, function), (_, _, tottime, _, _) in stats.stats.items():
        own[function if filename == "~" else _package(filename)] += tottime
    print("\n--- time of its own, by package ---")
    for package, seconds in sorted(own.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{100 * seconds / total:5.1f}%  {seconds * 1000 / args.n:6.3f} ms  {package}")


def _package(filename: str) -> str:
    """'django/db/models/sql', 'rest_framework', 'escalations', '<built-in>' ... from a code's file name."""
    if not filename.startswith("/"):
        return filename  # '<string>', '<frozen ...>'
    parts = Path(filename).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
        depth = 4 if parts[0] == "django" else 1
    elif "lib" in parts and "python3" in "".join(parts):
        return "stdlib/" + Path(filename).stem
    else:
        root = Path(__file__).resolve().parent.parent.parts
        parts = parts[len(root) :] if parts[: len(root)] == root else parts
        depth = 2
    return "/".join(parts[: min(depth, len(parts) - 1)] or parts[:1])


if __name__ == "__main__":
    main()
