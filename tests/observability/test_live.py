"""End to end on the production-style processes: daphne, a Celery worker and beat, a local receiver.

An agent's request with an X-Request-ID opens an escalation; its id is on
daphne's JSON lines, travels in the task message to the worker, whose JSON
line for the webhook attempt carries it, and is recorded on the delivery.
/metrics on daphne then shows what the worker counted (another process), the
console socket that is open, and /readyz the beat and worker heartbeats.
"""

from __future__ import annotations

import json

import pytest
import requests
from django.test import Client
from websockets.sync.client import connect

from agents.keys import agent_key_create
from supervisors.models import Role
from tests import factories
from tests.escalations.test_timers_live import private_redis  # noqa: F401 (fixture: a Redis of its own)
from tests.live_server import running_celery, running_daphne
from tests.observability.conftest import parse, value
from tests.waiting import wait_until
from tests.webhooks.conftest import httpserver_listen_address  # noqa: F401 (fixture)
from webhooks import services as webhook_services
from webhooks.models import Delivery, DeliveryStatus

WITHIN = 30


def json_lines(path) -> list[dict]:
    """The log's JSON lines (the worker's start-up banner is plain text; `celery -q` drops it)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def log_of(what: str, log):
    """wait_until's message: what did not happen, then the worker's log as it was then."""
    return lambda: f"{what}:\n{log()}"


@pytest.mark.slow
def test_a_request_id_reaches_the_worker_and_metrics_cross_processes(
    transactional_db,
    tmp_path,
    private_redis,  # noqa: F811
    httpserver,
    settings,
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    team = factories.make_team("Billing")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    agent = factories.make_agent(team, "Billing Bot")
    _, key = agent_key_create(agent=agent, name="live")
    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook_services.endpoint_create(team=team, url=httpserver.url_for("/hook"))
    browser = Client()
    browser.force_login(ana)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    env = {"WEBHOOKS_ALLOW_LOOPBACK": "true", "LOG_FORMAT": "json", "HEARTBEAT_SECONDS": "1"}
    worker_log = tmp_path / "celery-worker.log"

    with (
        running_daphne(tmp_path, private_redis, **env) as base,
        running_celery(tmp_path, private_redis, **env),
    ):
        response = requests.post(
            f"{base}/api/v1/escalations/",
            json={"conversation": "chat-1", "reason": "Refund over the limit", "severity": "warning"},
            headers={"Authorization": f"Bearer {key}", "X-Request-ID": "agent-trace-1"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert response.headers["X-Request-ID"] == "agent-trace-1"
        wait_until(
            lambda: len(httpserver.log) == 1,
            timeout=WITHIN,
            message=log_of("the webhook", worker_log.read_text),
        )
        wait_until(
            lambda: Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).exists(),
            timeout=WITHIN,
            message=log_of("the attempt's record", worker_log.read_text),
        )

        with connect(
            base.replace("http://", "ws://") + "/ws/console/",
            origin=base,
            additional_headers={"Cookie": cookie, "X-Request-ID": "tab-trace-1"},
        ) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "presence"
            samples = parse(requests.get(f"{base}/metrics", timeout=10).text)

        def heartbeats_fresh() -> bool:
            background = requests.get(f"{base}/readyz", timeout=10).json()["background"]
            return all(background[role]["status"] == "ok" for role in ("beat", "worker"))

        wait_until(
            heartbeats_fresh,
            timeout=WITHIN,
            interval=0.2,
            message=log_of("the beat and worker heartbeats", worker_log.read_text),
        )
        ready = requests.get(f"{base}/readyz", timeout=10)

    # Counted by daphne (the open) and by the worker (the attempt), read from daphne.
    assert value(samples, "escalations_opened_total", severity="warning") == 1
    assert value(samples, "webhook_attempts_total", outcome="succeeded") == 1
    assert value(samples, "console_websocket_connections") == 1
    assert value(samples, "escalations_queue", team="billing", severity="warning", status="open") == 1
    assert ready.status_code == 200
    assert ready.json()["failed"] == []

    # daphne (started with -v 0 by the tests' helper): nothing but JSON lines.
    daphne_lines = [json.loads(line) for line in (tmp_path / "daphne.log").read_text().splitlines()]
    traced = [line for line in daphne_lines if line.get("request_id") == "agent-trace-1"]
    assert {line["logger"] for line in traced} >= {"escalation_project.access", "escalations.services"}
    opened = [line for line in daphne_lines if line.get("request_id") == "tab-trace-1"]
    assert opened and opened[0]["message"] == "Console socket opened by ana"

    (attempt,) = [line for line in json_lines(worker_log) if line.get("logger") == "webhooks.services"]
    assert attempt["request_id"] == "agent-trace-1"
    assert attempt["origin_request_id"] == "agent-trace-1"
    assert (attempt["outcome"], attempt["status_code"]) == ("succeeded", 200)
    assert attempt["task_name"] == "webhooks.tasks.deliver"
    assert Delivery.objects.get().request_id == "agent-trace-1"
