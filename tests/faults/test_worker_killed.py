"""The Celery worker killed (SIGKILL) mid-delivery while an agent keeps creating escalations.

A real daphne, a real prefork worker with its beat sweep (tests/webhooks/test_crash_safety.py's
helpers: its own Redis, a receiver that checks signatures), on the test database. The
invariants: the API keeps answering creates within budget while no worker runs;
nothing is lost (every escalation answered 201 has its webhook delivered once a new
worker starts); each is delivered at least once, always with the same webhook-id, so
a receiver that deduplicates on it acts once.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults.conftest import own_redis  # noqa: F401 (a fixture)
from tests.faults.stack import celery_worker, receiver_holding_the_first, worker_log
from tests.faults.stream import WAIT_SECONDS, Stream, created_after
from tests.live_server import running_daphne
from tests.waiting import wait_until
from tests.webhooks.test_crash_safety import scene  # noqa: F401 (a fixture)
from webhooks.models import Delivery, DeliveryStatus

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A create does not wait on the worker (its webhook is enqueued after commit), so a dead
# worker must not slow it; generous for a machine shared with other test runs.
CREATE_BUDGET_SECONDS = 5


def test_a_worker_killed_mid_delivery_under_a_stream_of_creates_loses_nothing(
    scene,  # noqa: F811
    own_redis,  # noqa: F811
    httpserver,
    tmp_path,
):
    endpoint, as_agent = scene
    receiver, arrived, killed = receiver_holding_the_first(httpserver, endpoint.secret)
    first_worker, second_worker = tmp_path / "worker-1", tmp_path / "worker-2"

    with (
        running_daphne(tmp_path, redis_url=own_redis.url) as base,
        Stream(base, as_agent, patience=CREATE_BUDGET_SECONDS) as stream,
    ):
        with celery_worker(first_worker, own_redis.url, send_lease_seconds=3) as worker:
            if not arrived.wait(WAIT_SECONDS):
                pytest.fail(f"No delivery arrived.\n{worker_log(first_worker)}")
            os.killpg(worker.pid, signal.SIGKILL)  # main process, pool child and beat, mid-request
            worker.wait()
            killed.set()
        stream.wait_for("creates while no worker runs", created_after(time.monotonic(), 5))

        with celery_worker(second_worker, own_redis.url, send_lease_seconds=3):
            stream.wait_for("creates after a new worker started", created_after(time.monotonic(), 5))
            stream.stop()
            created = stream.created()
            succeeded = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.SUCCEEDED)
            wait_until(
                lambda: succeeded.count() >= len(created),
                timeout=WAIT_SECONDS,
                message=lambda: (
                    f"{succeeded.count()} of {len(created)} delivered.\n{worker_log(second_worker)}"
                ),
            )

    # The API kept answering while the worker was dead, each create within the stream's patience
    # (an answer that outlasted it is recorded with no status).
    assert {a.status for a in stream.answers} == {201}, stream.answers
    slowest = max(a.took for a in stream.answers)  # a figure for bench/README.md, not a check
    # Nothing lost: every escalation answered 201 was delivered, each under one webhook-id.
    deliveries = {
        d.event.escalation_id: d for d in Delivery.objects.filter(endpoint=endpoint).select_related("event")
    }
    assert sorted(deliveries) == created
    assert {d.status for d in deliveries.values()} == {DeliveryStatus.SUCCEEDED}
    ids_received: dict[int, set[str]] = {}
    for request in receiver.requests:
        ids_received.setdefault(request["payload"]["data"]["escalation"]["id"], set()).add(
            request["webhook_id"]
        )
    assert ids_received == {e: {d.webhook_id} for e, d in deliveries.items()}
    # At least once: the delivery cut off by the kill went again; the receiver acted once per id.
    assert len(receiver.requests) > len(created)
    assert sorted(receiver.effects) == sorted(d.webhook_id for d in deliveries.values())
    print(
        f"\nWorker killed mid-delivery: {len(created)} creates, all 201, slowest {slowest:.2f} s; "
        f"{len(receiver.requests)} requests for {len(created)} webhooks, all delivered"
    )
