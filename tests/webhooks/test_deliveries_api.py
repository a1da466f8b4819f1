"""/api/v1/webhook-endpoints/{id}/deliveries/: deliveries with their attempts, and redelivery."""

import datetime as dt
from unittest import mock

import pytest

from tests.api.conftest import agent_client
from tests.webhooks.conftest import NOW, deliveries_of, open_escalation
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus

ENDPOINTS = "/api/v1/webhook-endpoints/"


def deliveries_url(endpoint) -> str:
    return f"{ENDPOINTS}{endpoint.pk}/deliveries/"


def redeliver_url(endpoint, delivery) -> str:
    return f"{deliveries_url(endpoint)}{delivery.pk}/redeliver/"


@pytest.fixture
def our_hook(receiver, ours):
    return services.endpoint_create(team=ours.team, url=receiver.url_for("/hook"))


@pytest.fixture
def their_hook(receiver, theirs):
    return services.endpoint_create(team=theirs.team, url=receiver.url_for("/hook"))


@pytest.fixture(autouse=True)
def no_broker():
    # Redelivery enqueues on commit; keep test messages out of the (possibly shared) broker.
    with mock.patch("webhooks.tasks.deliver.delay") as delay:
        yield delay


def attempted(endpoint, receiver, code: int) -> Delivery:
    """A delivery of a new escalation of the endpoint's team, tried once against an answer of `code`."""
    receiver.clear()
    receiver.expect_request("/hook").respond_with_data("answer", status=code)
    open_escalation(endpoint.team)
    delivery = deliveries_of(endpoint)[-1]
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_member_lists_the_deliveries_newest_first_with_their_attempts(supervisor_api, our_hook, receiver):
    failed = attempted(our_hook, receiver, 404)
    retrying = attempted(our_hook, receiver, 503)

    response = supervisor_api.get(deliveries_url(our_hook))

    assert response.status_code == 200, response.json()
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [retrying.pk, failed.pk]
    newest = rows[0]
    assert newest["webhook_id"] == retrying.webhook_id
    assert (newest["event_type"], newest["status"], newest["attempt_count"]) == (
        "escalation.created",
        "retrying",
        1,
    )
    assert newest["next_attempt_at"] is not None
    (attempt,) = newest["attempts"]
    assert (attempt["number"], attempt["status_code"], attempt["outcome"]) == (1, 503, "retry")
    assert attempt["response_excerpt"] == "answer"
    assert rows[1]["last_error"] == "HTTP 404: not retried."


def test_the_list_is_cursor_paginated_and_filters_by_status(supervisor_api, our_hook, receiver):
    created = [attempted(our_hook, receiver, code) for code in (404, 200, 404)]

    first = supervisor_api.get(deliveries_url(our_hook), {"limit": 2}).json()
    second = supervisor_api.get(first["next"]).json()
    failed = supervisor_api.get(deliveries_url(our_hook), {"status": "failed"}).json()

    assert [row["id"] for row in first["results"] + second["results"]] == [d.pk for d in reversed(created)]
    assert second["next"] is None
    assert [row["id"] for row in failed["results"]] == [created[2].pk, created[0].pk]


def test_an_unknown_status_is_a_field_error(supervisor_api, our_hook):
    response = supervisor_api.get(deliveries_url(our_hook), {"status": "lost"})

    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_a_contributor_redelivers_a_failed_delivery_with_the_same_webhook_id(
    contributor_api, our_hook, receiver, no_broker, django_capture_on_commit_callbacks
):
    delivery = attempted(our_hook, receiver, 404)

    with django_capture_on_commit_callbacks(execute=True):
        response = contributor_api.post(redeliver_url(our_hook, delivery))

    assert response.status_code == 202, response.json()
    assert (response.json()["status"], response.json()["webhook_id"]) == ("pending", delivery.webhook_id)
    no_broker.assert_called_once_with([delivery.pk])
    receiver.clear()
    receiver.expect_request("/hook").respond_with_data("ok")
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 2)
    assert receiver.log[0][0].headers["webhook-id"] == delivery.webhook_id


def test_a_delivery_still_retrying_is_not_queued_twice(contributor_api, our_hook, receiver, no_broker):
    delivery = attempted(our_hook, receiver, 503)

    response = contributor_api.post(redeliver_url(our_hook, delivery))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_queued"
    assert not no_broker.called


def test_a_supervisor_reads_but_cannot_redeliver(supervisor_api, our_hook, receiver):
    delivery = attempted(our_hook, receiver, 404)

    assert supervisor_api.get(deliveries_url(our_hook)).status_code == 200
    response = supervisor_api.post(redeliver_url(our_hook, delivery))
    assert response.status_code == 403
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED


def test_another_teams_endpoint_and_deliveries_are_not_found(contributor_api, our_hook, their_hook, receiver):
    theirs = attempted(their_hook, receiver, 404)
    ours = attempted(our_hook, receiver, 404)

    assert contributor_api.get(deliveries_url(their_hook)).status_code == 404
    assert contributor_api.post(redeliver_url(their_hook, theirs)).status_code == 404
    # Their delivery under our endpoint's URL is not found either.
    assert contributor_api.post(redeliver_url(our_hook, theirs)).status_code == 404
    assert Delivery.objects.get(pk=theirs.pk).status == DeliveryStatus.FAILED
    assert Delivery.objects.get(pk=ours.pk).status == DeliveryStatus.FAILED


def test_an_agent_key_cannot_read_deliveries(ours, our_hook):
    assert agent_client(ours.agent_key).get(deliveries_url(our_hook)).status_code == 403


def test_the_schema_documents_both_operations(supervisor_api):
    schema = supervisor_api.get("/api/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    listing = paths["/api/v1/webhook-endpoints/{endpoint_id}/deliveries/"]["get"]
    redeliver = paths["/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver/"]["post"]
    assert {p["name"] for p in listing["parameters"]} >= {"endpoint_id", "status", "cursor", "limit"}
    assert "202" in redeliver["responses"]


def test_a_contributor_replays_what_failed_since_a_time(contributor_api, our_hook, receiver, clock):

    older = attempted(our_hook, receiver, 404)
    clock.shift(dt.timedelta(hours=2))
    newer = attempted(our_hook, receiver, 404)
    succeeded = attempted(our_hook, receiver, 200)

    response = contributor_api.post(
        f"{ENDPOINTS}{our_hook.pk}/replay-failed/",
        {"since": (NOW + dt.timedelta(hours=1)).isoformat()},
        format="json",
    )

    assert response.status_code == 202, response.json()
    assert response.json() == {"queued": 1}
    statuses = {d.pk: d.status for d in deliveries_of(our_hook)}
    assert statuses == {older.pk: "failed", newer.pk: "pending", succeeded.pk: "succeeded"}


def test_replay_needs_a_time_and_a_contributor(contributor_api, supervisor_api, our_hook, their_hook):
    missing = contributor_api.post(f"{ENDPOINTS}{our_hook.pk}/replay-failed/", {}, format="json")
    garbled = contributor_api.post(
        f"{ENDPOINTS}{our_hook.pk}/replay-failed/", {"since": "yesterday"}, format="json"
    )
    as_supervisor = supervisor_api.post(
        f"{ENDPOINTS}{our_hook.pk}/replay-failed/", {"since": "2026-03-02T09:00:00Z"}, format="json"
    )
    theirs = contributor_api.post(
        f"{ENDPOINTS}{their_hook.pk}/replay-failed/", {"since": "2026-03-02T09:00:00Z"}, format="json"
    )

    assert (missing.status_code, garbled.status_code) == (400, 400)
    assert "since" in missing.json()["error"]["fields"]
    assert "since" in garbled.json()["error"]["fields"]
    assert (as_supervisor.status_code, theirs.status_code) == (403, 404)
