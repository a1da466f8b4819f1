"""The agent's and the team's configuration is kept per process under a stamp every write moves
(escalations.team_config): a change made anywhere (the admin, the API, another process) is seen
by the next request, and a revoked key is refused at once."""

import pytest
from django.db.models import F
from django.test import Client

from agents.keys import agent_key_revoke
from agents.models import AgentApiKey
from agents.services import label_create, label_delete, rule_update
from escalations.models import Escalation
from supervisors.models import Role, Team
from tests import factories
from tests.api.conftest import agent_client
from webhooks.models import Delivery, Endpoint
from webhooks.outbox import receivers_of
from webhooks.services import endpoint_create, endpoint_update

CREATE_URL = "/api/v1/escalations/"
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def kept(settings):
    settings.TEAM_CONFIG_KEPT = True  # as in production (the test settings read afresh)
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


def create(api, external_id: str, **fields):
    body = {"conversation": external_id, "reason": "Refund of $500", "severity": "info", **fields}
    return api.post(CREATE_URL, body, format="json")


def deliveries_of(response) -> int:
    assert response.status_code == 201, response.data
    return Delivery.objects.filter(event__escalation_id=response.data["id"]).count()


def test_a_label_added_or_removed_is_checked_by_the_next_create(agent_api, ours):
    label_create(team=ours.team, kind="topic", name="refunds")
    assert create(agent_api, "c-1", topic="refunds").status_code == 201
    assert create(agent_api, "c-2", topic="billing").status_code == 400

    billing = label_create(team=ours.team, kind="topic", name="billing")
    assert create(agent_api, "c-3", topic="billing").status_code == 201

    label_delete(label=billing)
    refused = create(agent_api, "c-4", topic="billing")
    assert refused.status_code == 400
    assert "Allowed: refunds" in refused.json()["error"]["fields"]["topic"][0]


def test_an_endpoint_added_gets_the_next_event(agent_api, ours):
    assert deliveries_of(create(agent_api, "c-1")) == 0  # the team's (empty) list is now kept

    endpoint_create(team=ours.team, url=HOOK)
    assert deliveries_of(create(agent_api, "c-2")) == 1


def test_endpoints_deleted_from_the_admins_list_are_forgotten_by_the_next_request(agent_api, ours):
    # One with no delivery yet (the admin refuses to delete deliveries' history with it).
    endpoint = endpoint_create(team=ours.team, url=HOOK, event_types=["escalation.resolved"])
    assert deliveries_of(create(agent_api, "c-1")) == 0
    assert [receiver.endpoint_id for receiver in receivers_of(ours.team.pk)] == [endpoint.pk]  # kept

    owner = factories.make_user("olga", is_staff=True)
    factories.add_member(owner, ours.team, Role.OWNER)
    admin = Client()
    admin.force_login(owner)
    response = admin.post(
        "/admin/webhooks/endpoint/",
        {"action": "delete_selected", "_selected_action": [endpoint.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()
    assert receivers_of(ours.team.pk) == ()


def test_another_processs_change_is_seen_through_the_stamp_alone(agent_api, ours):
    """Another process's write leaves nothing in this one but the stamp it moved in the database."""
    assert deliveries_of(create(agent_api, "c-1")) == 0
    # A row written behind the services' back (no stamp moved) is not seen: the list is kept...
    Endpoint.objects.create(team=ours.team, url=HOOK, secret="s" * 40)
    assert deliveries_of(create(agent_api, "c-2")) == 0

    # ...until the stamp moves, as every write through the services moves it.
    Team.objects.filter(pk=ours.team.pk).update(settings_version=F("settings_version") + 1)
    assert deliveries_of(create(agent_api, "c-3")) == 1


def test_an_endpoint_switched_off_gets_no_more_deliveries(agent_api, ours):
    endpoint = endpoint_create(team=ours.team, url=HOOK)
    assert deliveries_of(create(agent_api, "c-1")) == 1

    endpoint_update(endpoint_id=endpoint.pk, data={"active": False})
    assert deliveries_of(create(agent_api, "c-2")) == 0


def test_a_revoked_key_is_refused_by_the_next_request(agent_api, ours):
    assert create(agent_api, "c-1").status_code == 201

    agent_key_revoke(api_key=AgentApiKey.objects.get(agent=ours.agent))

    assert create(agent_api, "c-2").status_code == 401
    assert Escalation.objects.filter(conversation__external_id="c-2").count() == 0


def test_a_rule_edited_is_the_one_the_next_opening_names(ours):
    rule = factories.make_rule(ours.agent)
    api = agent_client(ours.agent_key)
    url = f"/api/v1/conversations/{ours.conversation.pk}/messages/"
    first = api.post(url, {"role": "user", "content": "a refund please"}, format="json")
    assert first.json()["escalation"]["rule"] == {"id": rule.pk, "name": "Refunds"}
    Escalation.objects.all().delete()

    rule_update(rule_id=rule.pk, user=None, data={"name": "Money back"})
    second = api.post(url, {"role": "user", "content": "a refund, I said"}, format="json")
    assert second.json()["escalation"]["rule"] == {"id": rule.pk, "name": "Money back"}
