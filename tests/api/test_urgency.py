"""POST /api/v1/escalations/{id}/urgency/ {"urgency", "reason"}: a supervisor raises or lowers it."""

import datetime as dt

import time_machine
from rest_framework.test import APIClient

from escalations.models import Escalation, EventType
from tests import factories
from tests.api.conftest import agent_client

OPENED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def post(client, escalation, data):
    return client.post(f"/api/v1/escalations/{escalation.pk}/urgency/", data, format="json")


def opened_low(ours) -> Escalation:
    with time_machine.travel(OPENED, tick=False):
        return factories.open_escalation(ours.conversation, severity="info")


def test_raising_the_urgency_returns_the_new_due_times(supervisor_api, ours):
    escalation = opened_low(ours)

    with time_machine.travel(OPENED + dt.timedelta(minutes=5), tick=False):
        response = post(supervisor_api, escalation, {"urgency": "high", "reason": "VIP"})

    assert response.status_code == 200
    body = response.json()
    assert body["urgency"] == "high"
    assert body["response_due_at"] == "2026-11-25T09:15:00+00:00"
    event = Escalation.objects.get(pk=escalation.pk).events.last()
    assert (event.type, event.payload["reason"]) == (EventType.UPDATED, "VIP")


def test_a_missing_or_unknown_urgency_is_a_400_naming_the_field(supervisor_api, ours):
    escalation = opened_low(ours)
    for body in ({}, {"urgency": "asap"}, {"urgency": None}):
        response = post(supervisor_api, escalation, body)
        assert response.status_code == 400, body
        assert "urgency" in str(response.json()), body
    assert Escalation.objects.get(pk=escalation.pk).urgency == "low"


def test_a_closed_escalation_is_a_409(supervisor_api, ours):
    escalation = opened_low(ours)
    supervisor_api.post(f"/api/v1/escalations/{escalation.pk}/dismiss/", {"note": "Noise"}, format="json")

    response = post(supervisor_api, escalation, {"urgency": "high"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_dismissed"


def test_another_teams_escalation_is_a_404_and_agents_may_not_change_it(supervisor_api, ours, theirs):
    other = factories.open_escalation(theirs.conversation)
    assert post(supervisor_api, other, {"urgency": "low"}).status_code == 404
    own = opened_low(ours)
    assert post(agent_client(ours.agent_key), own, {"urgency": "high"}).status_code == 403
    assert Escalation.objects.get(pk=own.pk).urgency == "low"


def test_the_schema_describes_it(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"]["/api/v1/escalations/{id}/urgency/"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "urgency" in schema["components"]["schemas"][body]["required"]
