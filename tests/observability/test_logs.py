"""JSON log lines and request ids: per request, per socket, into tasks and webhook deliveries."""

from __future__ import annotations

import logging
import re
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from escalation_project import request_id
from escalation_project.celery import bind_request_id, carry_request_id, unbind_request_id
from escalation_project.env import env_choice, env_networks
from escalation_project.logs import logging_config
from tests.api.conftest import agent_api, fresh_rate_limits, ours  # noqa: F401 (fixtures)
from tests.supervisors.conftest import console_socket, session_cookie
from tests.webhooks.conftest import (  # noqa: F401 (fixtures)
    deliveries_of,
    hook_endpoint,
    httpserver_listen_address,
    loopback_allowed,
    open_escalation,
    receiver,
)
from webhooks import services as webhook_services
from webhooks.models import Delivery

OUR_ID = re.compile(r"[0-9a-f]{32}")
PUBLIC_URL = "https://93.184.216.34/hook"


def lines_with(lines: list[dict], **fields) -> list[dict]:
    return [line for line in lines if all(line.get(k) == v for k, v in fields.items())]


def test_a_request_gets_an_id_in_its_response_and_on_its_log_lines(client, db, json_log):
    response = client.get("/healthz")

    given = response["X-Request-ID"]
    assert OUR_ID.fullmatch(given)
    (access,) = lines_with(json_log(), logger="escalation_project.access")
    assert access["request_id"] == given
    assert access["message"] == "GET /healthz 200"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", 200)
    assert access["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", access["time"])


def test_a_well_formed_x_request_id_is_kept(client, db, json_log):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.9c:01")

    assert response["X-Request-ID"] == "lb-7f3a.9c:01"
    assert lines_with(json_log(), logger="escalation_project.access")[0]["request_id"] == "lb-7f3a.9c:01"


@pytest.mark.parametrize("sent", ["two words", "forged\nline", "x" * 129, 'quote"d', ""])
def test_a_malformed_x_request_id_is_replaced_by_ours(client, db, sent):
    assert OUR_ID.fullmatch(client.get("/healthz", HTTP_X_REQUEST_ID=sent)["X-Request-ID"])


def test_an_untrusted_header_is_ignored(client, db, settings):
    settings.REQUEST_ID_FROM_HEADER = False

    assert OUR_ID.fullmatch(client.get("/healthz", HTTP_X_REQUEST_ID="lb-1")["X-Request-ID"])


# Committed for real: the event's line is written on commit, inside the request.
@pytest.mark.django_db(transaction=True)
def test_the_event_a_request_writes_and_its_deliveries_carry_the_request_id(
    agent_api,  # noqa: F811
    ours,  # noqa: F811
    json_log,
):
    webhook_services.endpoint_create(team=ours.team, url=PUBLIC_URL)
    # The broker message is checked below through the signal; nothing consumes this queue.
    with mock.patch("webhooks.tasks.deliver.delay"):
        response = agent_api.post(
            "/api/v1/escalations/",
            {"conversation": "chat-9", "reason": "Refund over the limit", "severity": "warning"},
            format="json",
            HTTP_X_REQUEST_ID="agent-run-42",
        )

    assert response.status_code == 201
    assert response["X-Request-ID"] == "agent-run-42"
    (event_line,) = lines_with(json_log(), logger="escalations.services", event_type="escalation.created")
    assert event_line["request_id"] == "agent-run-42"
    assert event_line["escalation_id"] == response.json()["id"]
    assert Delivery.objects.get().request_id == "agent-run-42"


def test_a_task_published_in_a_request_carries_its_id_and_the_worker_binds_it():
    headers: dict = {}
    with request_id.bound("req-1"):
        carry_request_id(sender="webhooks.tasks.deliver", headers=headers)
    assert headers == {"request_id": "req-1"}

    # What a worker does with that message: the task's context has the id until it ends.
    task = mock.Mock(request=mock.Mock(spec=["request_id"], request_id="req-1"))
    bind_request_id(task=task)
    assert request_id.current() == "req-1"
    unbind_request_id(task=task)
    assert request_id.current() is None


def test_a_task_sent_by_beat_gets_an_id_of_its_own():
    task = mock.Mock(request=mock.Mock(spec=[]))
    bind_request_id(task=task)
    try:
        assert OUR_ID.fullmatch(request_id.current())
    finally:
        unbind_request_id(task=task)


def test_a_webhook_attempt_logs_its_delivery_with_both_ids(
    receiver,  # noqa: F811
    hook_endpoint,  # noqa: F811
    team,
    json_log,
    django_capture_on_commit_callbacks,
):
    receiver.expect_request("/hook").respond_with_data("ok")
    with request_id.bound("console-req-7"):
        open_escalation(team)
    (delivery,) = deliveries_of(hook_endpoint)
    with request_id.bound("sweep-task-3"), django_capture_on_commit_callbacks(execute=True):
        webhook_services.delivery_attempt(delivery_id=delivery.pk)

    (line,) = lines_with(json_log(), logger="webhooks.services", delivery_id=delivery.pk)
    assert line["request_id"] == "sweep-task-3"  # who enqueued this attempt
    assert line["origin_request_id"] == "console-req-7"  # whose change made the delivery
    assert (line["webhook_id"], line["attempt"], line["outcome"]) == (delivery.webhook_id, 1, "succeeded")
    assert line["status_code"] == 200
    assert hook_endpoint.url not in str(line)  # receivers put tokens in their URLs


@pytest.mark.django_db(transaction=True)
def test_a_console_socket_logs_with_the_connections_id(ana, json_log):
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        socket.scope["headers"].append((b"x-request-id", b"tab-5"))
        assert (await socket.connect())[0]
        await socket.disconnect()

    async_to_sync(scenario)()

    lines = lines_with(json_log(), logger="supervisors.consumers")
    assert [line["message"] for line in lines] == [
        "Console socket opened by ana",
        "Console socket closed (code 1000)",
    ]
    assert {line["request_id"] for line in lines} == {"tab-5"}


def test_an_exception_is_one_json_line_with_its_traceback(json_log):
    with request_id.bound("req-9"):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("tests").exception("It failed", extra={"escalation_id": 3})

    (line,) = json_log()
    assert (line["message"], line["request_id"], line["escalation_id"]) == ("It failed", "req-9", 3)
    assert "ValueError: boom" in line["exc_info"]


def test_text_format_is_one_readable_line_with_the_id():
    config = logging_config(log_format="text", level="INFO")

    assert config["formatters"]["text"]["format"] == (
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    )
    assert config["handlers"]["console"]["filters"] == ["request_id"]


def test_log_format_and_metrics_networks_are_checked_at_start_up(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert env_choice("LOG_FORMAT", "text", ("json", "text")) == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT='xml' is not one of json, text"):
        env_choice("LOG_FORMAT", "json", ("json", "text"))
    monkeypatch.setenv("NETS", "10.0.0.0/8, ::1")
    assert [str(n) for n in env_networks("NETS", [])] == ["10.0.0.0/8", "::1/128"]
    monkeypatch.setenv("NETS", "10.0.0.0/8,intranet")
    with pytest.raises(ImproperlyConfigured, match="NETS: 'intranet' is not an IP address or network"):
        env_networks("NETS", [])


def test_the_client_of_a_request_never_sees_another_requests_id(db):
    first, second = Client().get("/healthz"), Client().get("/healthz")

    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert request_id.current() is None  # nothing leaks out of a request


def test_djangos_line_about_an_error_response_carries_the_requests_id(client, db, json_log):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lost-1")

    assert response.status_code == 404
    (line,) = lines_with(json_log(), logger="django.request")
    assert (line["message"], line["request_id"]) == ("Not Found: /no-such-page/", "lost-1")
