"""GET /api/v1/events/?after=: the outbox, in id order, scoped to the caller."""

from escalations import services
from escalations.models import Event
from tests import factories
from tests.api.conftest import agent_client, token_client

URL = "/api/v1/events/"


def test_events_come_in_id_order_after_the_cursor(supervisor_api, ours):
    escalation = factories.open_escalation(ours.conversation)
    services.claim(escalation_id=escalation.pk, user=ours.supervisor)
    services.respond(escalation_id=escalation.pk, user=ours.supervisor, guidance="ok")
    all_events = supervisor_api.get(URL).json()
    assert [e["type"] for e in all_events["results"]] == [
        "escalation.created",
        "escalation.claimed",
        "escalation.resolved",
    ]
    first_id = all_events["results"][0]["id"]
    after_first = supervisor_api.get(URL, {"after": first_id}).json()
    assert [e["id"] for e in after_first["results"]] == [e["id"] for e in all_events["results"][1:]]
    assert after_first["results"][-1]["data"]["escalation"]["guidance"] == "ok"


def test_pages_by_limit_with_next_after(supervisor_api, ours):
    for _ in range(3):
        factories.open_escalation(factories.make_conversation(ours.agent))
    page = supervisor_api.get(URL, {"limit": 2}).json()
    assert len(page["results"]) == 2 and page["has_more"] is True
    rest = supervisor_api.get(URL, {"after": page["next_after"], "limit": 2}).json()
    assert len(rest["results"]) == 1 and rest["has_more"] is False
    empty = supervisor_api.get(URL, {"after": rest["next_after"]}).json()
    assert empty == {"results": [], "next_after": rest["next_after"], "has_more": False}


def test_each_caller_sees_only_its_own_events(ours, theirs):
    factories.open_escalation(ours.conversation)
    factories.open_escalation(theirs.conversation)
    other_agent = factories.make_agent(ours.team, "Sales Bot")
    factories.open_escalation(factories.make_conversation(other_agent))
    ours_team = {e["team_id"] for e in token_client(ours.supervisor_token).get(URL).json()["results"]}
    assert ours_team == {ours.team.pk}
    agent_events = agent_client(ours.agent_key).get(URL).json()["results"]
    assert [e["data"]["escalation"]["agent"]["slug"] for e in agent_events] == [ours.agent.slug]
    assert Event.objects.count() == 3


def test_a_bad_cursor_is_a_field_error(supervisor_api):
    response = supervisor_api.get(URL, {"after": "x"})
    assert response.status_code == 400
    assert "after" in response.json()["error"]["fields"]
