"""Crash safety with a real Redis, a real Celery worker (and its beat sweep) and daphne, in processes.

Each test runs its own redis-server, so it can stop it, and so no other
test run's worker (on a shared Redis) can take its messages. Escalations
are created over HTTP; webhooks arrive at a real local receiver and are
verified as an integrator would, with standardwebhooks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db.models import Q
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from agents.keys import agent_key_create
from escalation_project import embedded_redis
from tests import factories
from tests.live_server import database_url, running_daphne
from webhooks import services
from webhooks.models import Attempt, Delivery, DeliveryStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 90  # generous: the machine may be busy with other test runs


class OwnRedis:
    """A redis-server on a fixed free port that the test can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = embedded_redis.free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = embedded_redis.start(self.port, self.workdir)

    def stop(self) -> None:
        if self.process is not None:
            embedded_redis.stop(self.process)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path / "redis")
    redis.start()
    yield redis
    redis.stop()


@contextlib.contextmanager
def celery_worker(
    var_dir: Path, redis_url: str, *, send_lease_seconds: float, **extra_env: str
) -> Iterator[subprocess.Popen]:
    """A prefork worker with its embedded beat (-B: the 5 s sweep), in its own process group.

    `extra_env` overrides its environment (tests/faults: another DATABASE_URL)."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE")},
        "DJANGO_SETTINGS_MODULE": "escalation_project.settings_test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
        **extra_env,
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    log_path = var_dir / "worker.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.webhooks.celery_worker", str(send_lease_seconds),
             "-B", "--pool=prefork", "--concurrency=1", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own group: kill -9 reaches the main process, its pool child and its beat at once.
            process_group=0,
        )  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_log(var_dir: Path) -> str:
    path = var_dir / "worker.log"
    return path.read_text() if path.exists() else "(no worker log)"


class Receiver:
    """Records each request; `effect` runs once per webhook-id, as a deduplicating integrator would."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.requests: list[dict] = []
        self.effects: list[str] = []
        self.lock = threading.Lock()

    def handle(self, request: Request, before_answering: Callable[[], None] = lambda: None) -> Response:
        # Raises (a 500, and the test fails) unless correctly signed.
        payload = self.webhook.verify(request.get_data(), dict(request.headers))
        webhook_id = request.headers["webhook-id"]
        with self.lock:
            self.requests.append({"webhook_id": webhook_id, "payload": payload})
            if webhook_id not in self.effects:
                self.effects.append(webhook_id)
        before_answering()
        return Response(status=204)

    def wait_for(self, count: int, what: str, log: Callable[[], str]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: {len(self.requests)} of {count} requests arrived.\n{log()}")
            time.sleep(0.1)


def receiver_holding_the_first(httpserver, secret: str) -> tuple[Receiver, threading.Event, threading.Event]:
    """A Receiver at /hook that holds its first request unanswered until the returned `killed`
    is set (set it once the worker is killed); `arrived` is set when that request comes in."""
    receiver = Receiver(secret)
    arrived, killed = threading.Event(), threading.Event()

    def hold_the_first_until_the_worker_is_killed():
        if not arrived.is_set():
            arrived.set()
            killed.wait(WAIT_SECONDS)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: receiver.handle(request, hold_the_first_until_the_worker_is_killed)
    )
    return receiver, arrived, killed


@pytest.fixture
def scene(transactional_db, httpserver, settings):
    """A team with an agent (and its key) and an endpoint at the local receiver."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    _, key = agent_key_create(agent=agent, name="crash")
    endpoint = services.endpoint_create(team=team, url=httpserver.url_for("/hook"))
    return endpoint, {"Authorization": f"Bearer {key}"}


def wait_until_recorded(endpoint, count: int, log: Callable[[], str]) -> None:
    """The receiver has answered; the worker records the attempts just after (a batch's together).
    Stopping it before then would cut that short, so wait for the rows."""
    deadline = time.monotonic() + WAIT_SECONDS
    succeeded = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.SUCCEEDED)
    while succeeded.count() < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{succeeded.count()} of {count} attempts were recorded.\n{log()}")
        time.sleep(0.1)


def escalate(base: str, headers: dict, conversation: str) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/escalations/",
        json={"conversation": conversation, "reason": "Refund of $500", "severity": "critical"},
        headers=headers,
        timeout=60,
    )


def test_escalations_created_while_redis_is_down_are_answered_201_and_delivered_once_it_is_back(
    scene, own_redis, httpserver, tmp_path
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
        time.sleep(2)
        assert len(receiver.requests) == 1  # nothing can reach the worker meanwhile

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
    scene, own_redis, httpserver, tmp_path
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
    transactional_db, own_redis, tmp_path, settings
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
        deadline = time.monotonic() + WAIT_SECONDS
        while handled.count() < 5:
            if time.monotonic() > deadline:
                pytest.fail(f"{handled.count()} of 5 deliveries were handled.\n{log()}")
            time.sleep(0.1)
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
