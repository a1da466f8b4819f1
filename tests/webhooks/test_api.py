"""/api/v1/webhook-endpoints/: team-scoped, contributors and owners write, members read, the secret once."""

import pytest

from tests.api.conftest import agent_client
from webhooks import services
from webhooks.models import Endpoint

ENDPOINTS = "/api/v1/webhook-endpoints/"
# A public address literal: no DNS lookup in tests (the network may be closed).
URL = "https://93.184.216.34/"


def detail(endpoint) -> str:
    return f"{ENDPOINTS}{endpoint.pk}/"


@pytest.fixture
def our_endpoint(ours):
    return services.endpoint_create(team=ours.team, url=URL + "ours")


@pytest.fixture
def their_endpoint(theirs):
    return services.endpoint_create(team=theirs.team, url=URL + "theirs")


def test_a_contributor_creates_an_endpoint_and_gets_its_secret_once(contributor_api, ours):
    response = contributor_api.post(
        ENDPOINTS,
        {"team": ours.team.pk, "url": URL + "crm", "event_types": ["escalation.created"]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret
    assert body["event_types"] == ["escalation.created"]
    read = contributor_api.get(f"{ENDPOINTS}{endpoint.pk}/").json()
    assert "secret" not in read
    assert all("secret" not in row for row in contributor_api.get(ENDPOINTS).json()["results"])


def test_members_list_only_their_teams_endpoints(supervisor_api, our_endpoint, their_endpoint):
    rows = supervisor_api.get(ENDPOINTS).json()["results"]

    assert [row["id"] for row in rows] == [our_endpoint.pk]
    assert supervisor_api.get(detail(their_endpoint)).status_code == 404


def test_a_supervisor_reads_but_cannot_write(supervisor_api, ours, our_endpoint):
    assert supervisor_api.get(detail(our_endpoint)).status_code == 200

    created = supervisor_api.post(ENDPOINTS, {"team": ours.team.pk, "url": URL + "x"}, format="json")
    patched = supervisor_api.patch(detail(our_endpoint), {"active": False}, format="json")
    rotated = supervisor_api.post(f"{detail(our_endpoint)}rotate-secret/")
    deleted = supervisor_api.delete(detail(our_endpoint))

    assert [r.status_code for r in (created, patched, rotated, deleted)] == [403, 403, 403, 403]
    assert created.json()["error"]["code"] == "forbidden"


def test_another_teams_endpoint_is_not_found_for_writes(contributor_api, their_endpoint, theirs):
    assert contributor_api.patch(detail(their_endpoint), {"active": False}, format="json").status_code == 404
    assert contributor_api.delete(detail(their_endpoint)).status_code == 404
    assert contributor_api.post(f"{detail(their_endpoint)}rotate-secret/").status_code == 404
    created = contributor_api.post(ENDPOINTS, {"team": theirs.team.pk, "url": URL + "x"}, format="json")
    assert created.status_code == 403
    assert Endpoint.objects.filter(team=theirs.team).count() == 1


def test_rotating_returns_the_new_secret_once(contributor_api, our_endpoint):
    response = contributor_api.post(f"{detail(our_endpoint)}rotate-secret/")

    assert response.status_code == 200
    our_endpoint.refresh_from_db()
    assert response.json()["secret"] == our_endpoint.secret
    assert our_endpoint.previous_secret and response.json()["secret_rotation_ends_at"]


def test_patch_changes_fields_and_re_enabling_clears_the_reason(contributor_api, our_endpoint):
    services.endpoint_disable(endpoint_id=our_endpoint.pk, reason="The receiver answered 410 Gone.")

    response = contributor_api.patch(
        detail(our_endpoint), {"active": True, "description": "CRM", "team": 999}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["active"], body["description"], body["disabled_reason"], body["disabled_at"]) == (
        True,
        "CRM",
        "",
        None,
    )
    assert body["team"] == our_endpoint.team_id  # team is fixed after creation


def test_an_internal_address_is_a_field_error(contributor_api, ours, our_endpoint):
    created = contributor_api.post(
        ENDPOINTS, {"team": ours.team.pk, "url": "http://10.0.0.1/x"}, format="json"
    )
    patched = contributor_api.patch(detail(our_endpoint), {"url": "http://169.254.169.254/"}, format="json")

    for response in (created, patched):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert "not a public address" in error["fields"]["url"][0]


def test_an_unknown_event_type_is_a_field_error(contributor_api, ours):
    response = contributor_api.post(
        ENDPOINTS, {"team": ours.team.pk, "url": URL, "event_types": ["nope"]}, format="json"
    )

    assert response.status_code == 400
    assert "event_types" in response.json()["error"]["fields"]


def test_a_contributor_deletes_an_endpoint(contributor_api, our_endpoint):
    assert contributor_api.delete(detail(our_endpoint)).status_code == 204
    assert not Endpoint.objects.filter(pk=our_endpoint.pk).exists()


def test_an_agent_key_cannot_reach_webhook_endpoints(ours, our_endpoint):
    assert agent_client(ours.agent_key).get(ENDPOINTS).status_code == 403
