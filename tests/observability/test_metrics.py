"""/metrics: who may read it, and the real figures after real actions, parsed with prometheus_client."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
import time_machine
from asgiref.sync import async_to_sync, sync_to_async
from celery import Celery
from django.test import Client

from escalation_project import embedded_redis, heartbeats
from escalation_project.embedded_redis import free_port
from tests.api.conftest import (  # noqa: F401 (fixtures)
    agent_api,
    agent_client,
    fresh_rate_limits,
    ours,
    supervisor_api,
)
from tests.observability.conftest import scrape, value
from tests.supervisors.conftest import console_socket, session_cookie
from tests.waiting import async_wait_until
from tests.webhooks.conftest import (  # noqa: F401 (fixtures)
    deliveries_of,
    hook_endpoint,
    httpserver_listen_address,
    loopback_allowed,
    open_escalation,
    receiver,
)
from webhooks import services as webhook_services

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


# --- Who may read it ---------------------------------------------------------------------


def test_without_a_token_loopback_may_read_and_others_may_not(db, settings):
    assert Client().get("/metrics").status_code == 200  # the test client is 127.0.0.1

    refused = Client(REMOTE_ADDR="10.1.2.3").get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"

    settings.METRICS_ALLOWED_NETWORKS = [
        *settings.METRICS_ALLOWED_NETWORKS,
        ipaddress.ip_network("10.0.0.0/8"),
    ]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::ffff:10.1.2.3").get("/metrics").status_code == 200


def test_with_a_token_only_its_bearer_may_read_from_anywhere(db, settings):
    settings.METRICS_TOKEN = "s3cret-scrape"

    missing = Client().get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Token s3cret-scrape").status_code == 401
    remote = Client(REMOTE_ADDR="203.0.113.9")
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape").status_code == 200


# --- Escalations -------------------------------------------------------------------------------


def test_opening_claiming_and_answering_move_the_counters_histograms_and_queue(
    ours,  # noqa: F811
    agent_api,  # noqa: F811
    supervisor_api,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    def escalate(conversation: str) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            response = agent_api.post(
                "/api/v1/escalations/",
                {"conversation": conversation, "reason": "Refund over the limit", "severity": "warning"},
                format="json",
            )
        assert response.status_code == 201
        return response.json()["id"]

    def act(escalation_id: int, verb: str, body: dict | None = None) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = supervisor_api.post(
                f"/api/v1/escalations/{escalation_id}/{verb}/", body or {}, format="json"
            )
        assert response.status_code == 200, response.content

    with time_machine.travel(NOW, tick=False) as clock:
        first, second, third = escalate("chat-1"), escalate("chat-2"), escalate("chat-3")
        samples = scrape()
        assert value(samples, "escalations_opened_total", severity="warning") == 3
        assert value(samples, "escalations_queue", team="billing", severity="warning", status="open") == 3

        clock.shift(dt.timedelta(seconds=90))
        act(first, "claim")
        samples = scrape()
        assert value(samples, "escalations_queue", team="billing", severity="warning", status="open") == 2
        assert value(samples, "escalations_queue", team="billing", severity="warning", status="claimed") == 1
        assert value(samples, "escalation_time_to_claim_seconds_bucket", severity="warning", le="60.0") == 0
        assert value(samples, "escalation_time_to_claim_seconds_bucket", severity="warning", le="120.0") == 1
        assert value(samples, "escalation_time_to_claim_seconds_sum", severity="warning") == 90

        clock.shift(dt.timedelta(minutes=10))
        act(first, "respond", {"guidance": "Refund it."})
        act(second, "dismiss", {"note": "Duplicate."})
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                agent_api.post(f"/api/v1/escalations/{third}/withdraw/", {}, format="json").status_code == 200
            )

    samples = scrape()
    closed = "escalations_closed_total"
    assert value(samples, closed, severity="warning", outcome="resolved", automatic="false") == 1
    assert value(samples, closed, severity="warning", outcome="dismissed", automatic="false") == 1
    assert value(samples, closed, severity="warning", outcome="withdrawn", automatic="false") == 1
    # Answers are a person's respond or dismiss: both came 11.5 minutes after opening.
    assert value(samples, "escalation_time_to_answer_seconds_count", severity="warning") == 2
    assert value(samples, "escalation_time_to_answer_seconds_sum", severity="warning") == 2 * 690
    assert value(samples, "escalation_time_to_answer_seconds_bucket", severity="warning", le="600.0") == 0
    assert value(samples, "escalation_time_to_answer_seconds_bucket", severity="warning", le="900.0") == 2
    assert value(samples, "escalation_time_to_claim_seconds_count", severity="warning") == 1
    for status in ("open", "claimed"):
        assert value(samples, "escalations_queue", team="billing", severity="warning", status=status) == 0


def test_a_rolled_back_change_counts_nothing(ours, supervisor_api):  # noqa: F811
    # No on-commit callbacks run in this test's transaction, as after a rollback.
    response = agent_client(ours.agent_key).post(
        "/api/v1/escalations/", {"conversation": "c", "reason": "Help", "severity": "critical"}, format="json"
    )
    assert response.status_code == 201

    assert value(scrape(), "escalations_opened_total", severity="critical") is None


# --- Webhooks ----------------------------------------------------------------------------------


def test_webhook_attempts_are_counted_by_outcome_with_their_latency(
    receiver,  # noqa: F811
    hook_endpoint,  # noqa: F811
    team,
    django_capture_on_commit_callbacks,
):
    receiver.expect_ordered_request("/hook").respond_with_data("ok")
    receiver.expect_ordered_request("/hook").respond_with_data("busy", status=503)
    for _ in range(2):
        open_escalation(team)
    for delivery in deliveries_of(hook_endpoint):
        with django_capture_on_commit_callbacks(execute=True):
            webhook_services.delivery_attempt(delivery_id=delivery.pk)

    samples = scrape()
    assert value(samples, "webhook_attempts_total", outcome="succeeded") == 1
    assert value(samples, "webhook_attempts_total", outcome="retry") == 1
    assert value(samples, "webhook_attempt_duration_seconds_count", outcome="succeeded") == 1
    # A local receiver answers well within a second.
    assert value(samples, "webhook_attempt_duration_seconds_bucket", outcome="succeeded", le="1.0") == 1


# --- Websockets -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_websocket_connections_are_counted_from_presence(ana):
    cookie = session_cookie(ana)
    scrape_sockets = sync_to_async(lambda: _sockets(scrape()))

    async def connections(expected: tuple) -> None:
        # The consumer accepts first and records presence right after (so the handshake
        # does not wait on Redis): connect() can return a moment before the count moves.
        async def seen() -> bool:
            return await scrape_sockets() == expected

        await async_wait_until(seen, message=f"the scrape counting {expected} (sockets, users, teams)")

    async def scenario():
        first, second = console_socket(cookie=cookie), console_socket(cookie=cookie)
        assert (await first.connect())[0]
        await connections((1, 1, 1))
        assert (await second.connect())[0]
        await connections((2, 2, 1))  # two tabs, one person
        await first.disconnect()
        await connections((1, 1, 1))
        await second.disconnect()
        await connections((0, 0, 0))

    async_to_sync(scenario)()


def _sockets(samples) -> tuple:
    return (
        value(samples, "console_websocket_connections"),
        value(samples, "console_websocket_connections_by_team", team="billing"),
        value(samples, "console_supervisors_online", team="billing"),
    )


# --- Celery ------------------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path, settings):
    """A Redis of this test's own, as REDIS_URL and broker: its queue holds only what the test sends."""
    port = free_port()
    process = embedded_redis.start(port, tmp_path / "redis")
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    try:
        yield settings.REDIS_URL
    finally:
        embedded_redis.stop(process)


def test_the_celery_queue_lengths_are_read_from_the_broker(db, private_redis, settings):
    client = Celery(broker=private_redis, set_as_current=False)
    try:
        for delivery_id in (1, 2, 3):
            client.send_task(
                "webhooks.tasks.deliver", args=[[delivery_id]], queue=settings.CELERY_WEBHOOKS_QUEUE
            )
        client.send_task("escalations.tasks.sweep_timers", queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    finally:
        client.close()

    samples = scrape()
    assert value(samples, "celery_queue_length", queue=settings.CELERY_WEBHOOKS_QUEUE) == 3
    assert value(samples, "celery_queue_length", queue=settings.CELERY_TASK_DEFAULT_QUEUE) == 1
    assert value(samples, "celery_unacked_messages") == 0


def test_heartbeat_ages_are_reported_once_recorded(db):
    assert value(scrape(), "celery_heartbeat_age_seconds", role="worker") is None

    heartbeats.record("worker")

    samples = scrape()
    assert 0 <= value(samples, "celery_heartbeat_age_seconds", role="worker") < 5
    assert value(samples, "celery_heartbeat_age_seconds", role="beat") is None


# --- A source down ----------------------------------------------------------------------------


def test_with_redis_down_the_scrape_still_answers_and_says_which_source_failed(db, escalation, settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    samples = scrape()

    for source, up in [("redis", 0), ("presence", 0), ("broker", 0), ("database", 1)]:
        assert value(samples, "escalation_console_source_up", source=source) == up
    assert value(samples, "escalations_queue", team="billing", severity="warning", status="open") == 1
    assert value(samples, "escalations_opened_total", severity="warning") is None


def test_with_redis_down_a_change_still_commits_and_its_count_is_lost(
    escalation, ana, settings, django_capture_on_commit_callbacks, caplog
):
    from escalations import services

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    with django_capture_on_commit_callbacks(execute=True):
        services.claim(escalation_id=escalation.pk, user=ana)

    escalation.refresh_from_db()
    assert escalation.status == "claimed"
    assert "Could not record metrics in Redis: Error 111" in caplog.text
    assert "Traceback" not in caplog.text  # one line per lost record during an outage
