"""PostgreSQL stopped and started again under a stream of creates and console reads.

The test's own cluster (tests/faults/_pg.py), its own Redis, a real daphne and a
real Celery worker with its beat sweep, all on that cluster; so it runs the same in
the SQLite and the PostgreSQL pass. First a quick restart (every pooled connection
dies at once), then the server held down until the stream has felt it, then started
again. While the server is down every answer is either
a success or the documented 503 with Retry-After (never a 500), each within its
budget; once it is back the psycopg pool reconnects without restarting daphne, and
nothing answered 201 is lost: it is in the database and its webhook is delivered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.conf import settings

from tests.faults._pg import private_cluster, server_binaries
from tests.faults.stack import Receiver, celery_worker, worker_log
from tests.faults.stream import WAIT_SECONDS, Stream, created_after
from tests.live_server import running_daphne, running_redis, server_env
from tests.waiting import wait_until

BINARIES = server_binaries()

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.skipif(
        BINARIES is None,
        reason="PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
        "apt-get install postgresql to run this test",
    ),
]

# A request waits this long for a pool connection before its 503 (production's value);
# the budget of any answer while the server is down is that plus the request's own work.
POOL_TIMEOUT_SECONDS = 10
ANSWER_BUDGET_SECONDS = POOL_TIMEOUT_SECONDS + 8  # generous: other test runs share the machine

SETUP = """
import json
import django

django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from agents.keys import agent_key_create
from supervisors.models import Role
from tests import factories
from webhooks import services

call_command("migrate", interactive=False, verbosity=0)
team = factories.make_team("Billing")
_, key = agent_key_create(agent=factories.make_agent(team, "Billing Bot"), name="faults")
endpoint = services.endpoint_create(team=team, url=sys.argv[1])
ana = factories.make_user("ana")
factories.add_member(ana, team, Role.SUPERVISOR)
browser = Client()
browser.force_login(ana)
print(json.dumps({
    "key": key,
    "secret": endpoint.secret,
    "session": browser.cookies[settings.SESSION_COOKIE_NAME].value,
}))
"""

STORED = """
import json
import django

django.setup()
from escalations.models import Escalation
from webhooks.models import Delivery

print(json.dumps({
    "escalations": list(Escalation.objects.values_list("id", flat=True)),
    "deliveries": [
        (d.event.escalation_id, d.webhook_id, d.status) for d in Delivery.objects.select_related("event")
    ],
}))
"""


def run_django(script: str, env: dict[str, str], *args: str) -> dict:
    """Run `script` in a Django process with `env` (the servers' environment); its last line is JSON."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys\n" + script, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def fill_the_pool(base: str, session: str, readers: int = 12) -> None:
    """Console reads at once, so daphne's pool holds that many connections when the server goes
    down: after the restart each one is dead, and the pool must replace them on its own."""
    cookies = {settings.SESSION_COOKIE_NAME: session}
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(requests.get(f"{base}/console/", cookies=cookies).status_code)
        )
        for _ in range(readers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * readers


def test_postgres_restarted_under_load_answers_503_while_down_recovers_and_loses_nothing(
    tmp_path, httpserver
):
    with private_cluster(BINARIES) as cluster:
        database_url = cluster.create_database("escalations")
        with running_redis(tmp_path) as redis_url:
            servers = {
                "DATABASE_URL": database_url,
                "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_SECONDS),
                "API_RATE_AGENT_KEY": "100000/minute",
                "WEBHOOKS_ALLOW_LOOPBACK": "true",
            }
            env = server_env(tmp_path, redis_url, **servers)
            scene = run_django(SETUP, env, httpserver.url_for("/hook"))
            receiver = Receiver(scene["secret"])
            httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver.handle)
            worker_dir = tmp_path / "worker"

            with (
                running_daphne(tmp_path, redis_url, **servers) as base,
                celery_worker(worker_dir, redis_url, send_lease_seconds=3, **servers),
            ):
                with Stream(
                    base,
                    {"Authorization": f"Bearer {scene['key']}"},
                    scene["session"],
                    patience=ANSWER_BUDGET_SECONDS,
                ) as stream:
                    stream.wait_for("creates before the restart", created_after(0, 5))
                    # A quick restart (pg_ctl restart -m fast) leaves every pooled connection dead.
                    fill_the_pool(base, scene["session"])
                    cluster.stop()
                    cluster.start()
                    restarted = time.monotonic()
                    stream.wait_for("creates after the quick restart", created_after(restarted, 5))
                    # Then down for longer: until the stream has felt it.
                    stopped = time.monotonic()
                    cluster.stop()  # -m fast: every session (the pool's connections too) is ended
                    stream.wait_for("answers while down", lambda a: sum(x.sent > stopped for x in a) >= 2)
                    cluster.start()
                    started = time.monotonic()
                    stream.wait_for("creates after the restart", created_after(started, 10))
                answers = stream.answers
                expected = stream.created()
                received = lambda: {r["payload"]["data"]["escalation"]["id"] for r in receiver.requests}  # noqa: E731
                wait_until(
                    lambda: set(expected) <= received(),
                    timeout=WAIT_SECONDS,
                    message=lambda: f"webhooks after the restart.\n{worker_log(worker_dir)}",
                )

                # The worker records each attempt just after the receiver answered.
                def all_recorded() -> dict | None:
                    stored = run_django(STORED, env)
                    done = {e for e, _, status in stored["deliveries"] if status == "succeeded"}
                    return stored if set(expected) <= done else None

                stored = wait_until(
                    all_recorded,
                    timeout=WAIT_SECONDS,
                    interval=0.5,
                    message=lambda: f"attempts recorded after the restart.\n{worker_log(worker_dir)}",
                )

    during = [a for a in answers if stopped <= a.sent < started]
    first_success_after = min(
        a.sent + a.took for a in answers if a.sent >= started and a.status in (200, 201)
    )
    after = [a for a in answers if a.sent >= first_success_after]
    outage_answers = [a for a in answers if a.status not in (200, 201)]
    quick = [a for a in answers if restarted <= a.sent < stopped]
    print(
        f"\nQuick restart: {sum(a.status not in (200, 201) for a in quick)} of the {len(quick)} requests "
        "sent after it answered 503. "
        f"PostgreSQL down {started - stopped:.1f} s: {len(during)} requests sent meanwhile, "
        f"{len(outage_answers)} answered 503 ({sum(a.kind == 'create' for a in outage_answers)} creates), "
        f"slowest answer {max(a.took for a in answers):.1f} s; first success "
        f"{first_success_after - started:.1f} s after the server was up; "
        f"{len(expected)} creates answered 201, all stored and delivered"
    )

    # Only successes and the documented 503, never a 500 or a dropped connection.
    assert {a.status for a in answers} <= {200, 201, 503}, [
        a for a in answers if a.status not in (200, 201, 503)
    ]
    assert all(a.retry_after == "5" for a in outage_answers), outage_answers
    assert {a.code for a in outage_answers if a.kind == "create"} <= {"database_unavailable"}
    assert any(a.status == 503 for a in during), during  # the outage was felt
    # Each answer came within the stream's patience (ANSWER_BUDGET_SECONDS): one that did not is
    # recorded with no status, refused above. The pool reconnected on its own after both (the
    # stream's creates after the restart were answered 201; daphne never restarted), and stayed healthy.
    assert [a for a in after if a.status not in (200, 201)] == []
    # Nothing lost: every create answered 201 is stored, and its webhook went out.
    assert set(expected) <= set(stored["escalations"])
    deliveries = {
        escalation_id: (webhook_id, status) for escalation_id, webhook_id, status in stored["deliveries"]
    }
    assert {deliveries[e][1] for e in expected} == {"succeeded"}
    received = {(r["payload"]["data"]["escalation"]["id"], r["webhook_id"]) for r in receiver.requests}
    assert {(e, deliveries[e][0]) for e in expected} <= received
