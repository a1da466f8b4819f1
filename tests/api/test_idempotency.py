"""Idempotency-Key on POST /api/v1/escalations/: a retried tool call does not open twice."""

import threading
from unittest import mock

import pytest
from django.db import connections

from escalations import tool_call
from escalations.models import Escalation, IdempotencyRecord
from tests.api.conftest import agent_client, make_side

URL = "/api/v1/escalations/"
BODY = {"conversation": "ext-1", "reason": "Refund of $500", "severity": "critical"}


def test_the_same_key_and_body_returns_the_first_response(agent_api):
    first = agent_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = agent_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Escalation.objects.count() == 1


def test_the_same_key_with_another_body_gets_422(agent_api):
    agent_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = agent_api.post(URL, {**BODY, "reason": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_keys_belong_to_one_agent(agent_api, theirs):
    agent_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = agent_client(theirs.agent_key).post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201
    assert Escalation.objects.count() == 2


def test_a_failed_request_does_not_use_up_its_key(agent_api):
    bad = agent_api.post(URL, {**BODY, "severity": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()


def test_a_key_left_in_flight_by_a_crash_is_taken_over_after_the_timeout(agent_api, ours, settings):
    settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = 1
    from escalations.idempotency import fingerprint

    record = IdempotencyRecord.objects.create(
        agent=ours.agent, key="k-1", fingerprint=fingerprint(method="POST", path=URL, body=BODY)
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=record.created_at.replace(year=record.created_at.year - 1)
    )
    response = agent_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_gets_409_while_the_first_is_in_flight():
    side = make_side("Billing", "Billing Bot", "ana")
    first_started, duplicate_done = threading.Event(), threading.Event()
    real = tool_call.escalate_to_human

    def slow_escalate(**kwargs):
        first_started.set()
        duplicate_done.wait(10)  # hold the first request in flight until the duplicate has its answer
        return real(**kwargs)

    responses = {}

    def call(name):
        try:
            responses[name] = agent_client(side.agent_key).post(
                URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-race"
            )
        finally:
            connections.close_all()

    with mock.patch("escalations.api.views.escalate_to_human", side_effect=slow_escalate):
        first = threading.Thread(target=call, args=("first",))
        first.start()
        assert first_started.wait(10)
        duplicate = threading.Thread(target=call, args=("duplicate",))
        duplicate.start()
        duplicate.join(10)
        duplicate_done.set()
        first.join(10)

    assert responses["duplicate"].status_code == 409
    assert responses["duplicate"].json()["error"]["code"] == "idempotency_key_in_flight"
    assert responses["first"].status_code == 201
    assert Escalation.objects.count() == 1


def test_old_keys_are_pruned_and_then_do_the_work_again(agent_api, ours, settings):
    import datetime as dt

    from django.utils import timezone

    from escalations.tasks import prune_idempotency_records

    agent_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-old")
    agent_api.post(URL, {**BODY, "conversation": "ext-2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-new")
    IdempotencyRecord.objects.filter(key="k-old").update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert prune_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k-new"]
