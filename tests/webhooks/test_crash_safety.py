"""Crash safety with a real Redis, a real Celery worker (and its beat sweep) and daphne, in processes.

Each test runs its own redis-server, so it can stop it, and so no other
test run's worker (on a shared Redis) can take its messages. Escalations
are created over HTTP; webhooks arrive at a real local receiver and are
verified as an integrator would, with standardwebhooks.
"""

from __future__ import annotations

import os
import signal

import pytest
from django.db.models import Q
from pytest_httpserver import HTTPServer

from agents.keys import agent_key_create
from escalation_project import embedded_redis
from tests import factories
from tests.faults.conftest import own_redis  # noqa: F401 (fixture)
from tests.faults.stack import (
    WAIT_SECONDS,
    Receiver,
    celery_worker,
    escalate,
    receiver_holding_the_first,
    wait_until_recorded,
    worker_log,
)
from tests.live_server import running_daphne
from tests.waiting import wait_until
from webhooks import services
from webhooks.models import Attempt, Delivery, DeliveryStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scene(transactional_db, httpserver, settings):
    """A team with an agent (and its key) and an endpoint at the local receiver."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    _, key = agent_key_create(agent=agent, name="crash")
    endpoint = services.endpoint_create(team=team, url=httpserver.url_for("/hook"))
    return endpoint, {"Authorization": f"Bearer {key}"}


def test_escalations_created_while_redis_is_down_are_answered_201_and_delivered_once_it_is_back(
    scene,
    own_redis,  # noqa: F811
    httpserver,
    tmp_path,
):
    endpoint, as_agent = scene
    receiver = Receiver(endpoint.secret)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver.handle)
    var_dir = tmp_path / "var"

    with (
        running_daphne(tmp_path, redis_url=own_redis.url) as base,
        celery_worker(var_dir, own_redis.url, send_lease_seconds=60),
    ):
        before = escalate(base, as_agent, "before-the-outage")
        assert before.status_code == 201, before.text
        receiver.wait_for(1, "the first webhook (worker up)", lambda: worker_log(var_dir))

        own_redis.stop()
        during = [escalate(base, as_agent, f"during-the-outage-{n}") for n in range(2)]
        assert [r.status_code for r in during] == [201, 201], [r.text for r in during]
        # Nothing can reach the worker meanwhile: the two wait in the outbox, unsent.
        waiting = Delivery.objects.filter(
            endpoint=endpoint, event__escalation_id__in=[r.json()["id"] for r in during]
        )
        assert sorted(waiting.values_list("status", "attempt_count")) == [(DeliveryStatus.PENDING, 0)] * 2
        assert len(receiver.requests) == 1

        own_redis.start()  # the same port: the worker and beat reconnect; the sweep finds the rows
        receiver.wait_for(3, "webhooks after Redis came back", lambda: worker_log(var_dir))
        wait_until_recorded(endpoint, 3, lambda: worker_log(var_dir))

    escalation_ids = sorted(r.json()["id"] for r in [before, *during])
    deliveries = list(Delivery.objects.filter(endpoint=endpoint).order_by("event__escalation_id"))
    assert [d.event.escalation_id for d in deliveries] == escalation_ids
    assert {d.status for d in deliveries} == {DeliveryStatus.SUCCEEDED}
    assert sorted(r["webhook_id"] for r in receiver.requests) == sorted(d.webhook_id for d in deliveries)
    assert sorted(r["payload"]["data"]["escalation"]["id"] for r in receiver.requests) == escalation_ids
    assert {r["payload"]["type"] for r in receiver.requests} == {"escalation.created"}


def test_a_worker_killed_mid_delivery_sends_it_again_with_the_same_webhook_id(
    scene,
    own_redis,  # noqa: F811
    httpserver,
    tmp_path,
):
    endpoint, as_agent = scene
    receiver, arrived, killed = receiver_holding_the_first(httpserver, endpoint.secret)
    first_worker, second_worker = tmp_path / "worker-1", tmp_path / "worker-2"

    with running_daphne(tmp_path, redis_url=own_redis.url) as base:
        with celery_worker(first_worker, own_redis.url, send_lease_seconds=3) as worker:
            created = escalate(base, as_agent, "chat-1")
            assert created.status_code == 201, created.text
            if not arrived.wait(WAIT_SECONDS):
                pytest.fail(f"The delivery never arrived.\n{worker_log(first_worker)}")
            os.killpg(worker.pid, signal.SIGKILL)  # main process, pool child and beat, mid-request
            worker.wait()
            killed.set()

        # A fresh worker: once the dead one's claim (the send lease) runs out, its beat sweep sends it again.
        with celery_worker(second_worker, own_redis.url, send_lease_seconds=3):
            receiver.wait_for(2, "the delivery sent again", lambda: worker_log(second_worker))
            wait_until_recorded(endpoint, 1, lambda: worker_log(second_worker))

    delivery = Delivery.objects.get(endpoint=endpoint)
    first, second = receiver.requests
    assert first["webhook_id"] == second["webhook_id"] == delivery.webhook_id
    assert first["payload"] == second["payload"]
    assert receiver.effects == [delivery.webhook_id]  # deduplicated on webhook-id: one effect
    assert delivery.status == DeliveryStatus.SUCCEEDED
    # The killed attempt never got to record itself; the one that finished did.
    assert [a.number for a in delivery.attempts.all()] == [1]


def test_a_receiver_that_is_down_rests_its_endpoint_and_gets_every_delivery_once_it_is_back(
    transactional_db,
    own_redis,  # noqa: F811
    tmp_path,
    settings,
):
    """Nothing listens on the endpoint's port at first: the endpoint rests instead of being tried
    for every delivery; when a receiver starts there, the sweep sends them all."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    team = factories.make_team("Billing")
    _, key = agent_key_create(agent=factories.make_agent(team, "Billing Bot"), name="down")
    port = embedded_redis.free_port()
    endpoint = services.endpoint_create(team=team, url=f"http://127.0.0.1:{port}/hook")
    as_agent = {"Authorization": f"Bearer {key}"}
    var_dir = tmp_path / "var"
    log = lambda: worker_log(var_dir)  # noqa: E731

    with (
        running_daphne(tmp_path, redis_url=own_redis.url) as base,
        celery_worker(var_dir, own_redis.url, send_lease_seconds=60),
    ):
        created = [escalate(base, as_agent, f"chat-{n}") for n in range(5)]
        assert [r.status_code for r in created] == [201] * 5, [r.text for r in created]
        # Each delivery was either tried (and refused) or held back by the rest.
        handled = Delivery.objects.filter(endpoint=endpoint).filter(
            Q(attempt_count__gt=0) | Q(last_error__startswith="Not sent yet")
        )
        wait_until(
            lambda: handled.count() >= 5,
            timeout=WAIT_SECONDS,
            message=lambda: f"{handled.count()} of 5 deliveries were handled.\n{log()}",
        )
        endpoint.refresh_from_db()
        assert endpoint.rest_seconds >= 5
        # The first send, refused; then at most a probe at the end of each rest (5 s, 10 s)
        # while the five were created, not one try per delivery.
        tried_while_down = Attempt.objects.filter(delivery__endpoint=endpoint).count()
        assert 1 <= tried_while_down <= 3

        receiver = Receiver(endpoint.secret)
        server = HTTPServer(host="127.0.0.1", port=port)
        server.expect_request("/hook", method="POST").respond_with_handler(receiver.handle)
        server.start()
        try:
            receiver.wait_for(5, "every webhook once the receiver is up", log)
            wait_until_recorded(endpoint, 5, log)
        finally:
            server.stop()

    deliveries = Delivery.objects.filter(endpoint=endpoint)
    assert sorted(receiver.effects) == sorted(d.webhook_id for d in deliveries)
    assert len(receiver.requests) == 5  # each once: the rest held them, nothing was sent twice
    endpoint.refresh_from_db()
    assert (endpoint.resting_until, endpoint.rest_seconds) == (None, 0)
