"""Agent keys made in the admin: the key is shown once, in a message, and works; revoking stops it."""

from django.contrib.messages import get_messages

from agents.models import AgentApiKey
from supervisors.models import Role
from tests import factories
from tests.api.conftest import agent_client


def contributor_client(client, team):
    user = factories.make_user("carla", is_staff=True)
    factories.add_member(user, team, Role.CONTRIBUTOR)
    client.force_login(user)
    return client


def test_a_key_added_in_the_admin_is_shown_once_and_works(client, ours):
    contributor_client(client, ours.team)
    response = client.post(
        "/admin/agents/agentapikey/add/", {"agent": ours.agent.pk, "name": "worker"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request) if "shown this once" in str(m)]
    assert len(shown) == 1
    key = shown[0].rsplit(" ", 1)[-1]
    assert agent_client(key).get("/api/v1/escalations/").status_code == 200
    assert AgentApiKey.objects.filter(agent=ours.agent, name="worker").count() == 1


def test_the_revoke_action_stops_the_key(client, ours):
    contributor_client(client, ours.team)
    row = AgentApiKey.objects.get(agent=ours.agent)
    client.post("/admin/agents/agentapikey/", {"action": "revoke", "_selected_action": [row.pk]}, follow=True)
    assert agent_client(ours.agent_key).get("/api/v1/escalations/").status_code == 401


def test_another_teams_contributor_cannot_see_or_make_its_keys(client, ours, theirs):
    contributor_client(client, theirs.team)
    assert client.get(
        f"/admin/agents/agentapikey/{AgentApiKey.objects.get(agent=ours.agent).pk}/change/"
    ).status_code in {302, 404}
    response = client.post("/admin/agents/agentapikey/add/", {"agent": ours.agent.pk, "name": "sneaky"})
    assert not AgentApiKey.objects.filter(name="sneaky").exists()
    assert response.status_code == 200  # the form is shown again: that agent is not a choice


def test_staff_make_their_own_token_in_the_admin_and_it_works(client, ours):
    from supervisors.models import UserToken
    from tests.api.conftest import token_client

    ours.supervisor.is_staff = True
    ours.supervisor.save()
    client.force_login(ours.supervisor)
    response = client.post(
        "/admin/supervisors/usertoken/add/", {"user": ours.supervisor.pk, "name": "cli"}, follow=True
    )
    shown = [str(m) for m in get_messages(response.wsgi_request) if "shown this once" in str(m)]
    key = shown[0].rsplit(" ", 1)[-1]
    assert token_client(key).get("/api/v1/escalations/").status_code == 200
    other = factories.make_user("zed")
    client.post("/admin/supervisors/usertoken/add/", {"user": other.pk, "name": "sneaky"})
    assert not UserToken.objects.filter(user=other).exists()
