"""A cursor the API did not hand out is a 400 naming `cursor`, on every paginated list.

DRF's cursors were base64 of the position's raw value: "%%%%" served the first
page, an edited one put any text into the list's filter (a 500 for an integer or
a time without a zone). They are signed now, per list and ordering.
"""

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from agents.models import Label, RuleTestCase
from escalation_project.api.pagination import NOT_A_CURSOR
from escalations.models import Event
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import agent_client, token_client
from webhooks import services as webhook_services
from webhooks.models import Delivery


def unsigned(querystring: str) -> str:
    """What DRF itself would have handed out."""
    return base64.b64encode(querystring.encode()).decode()


@pytest.fixture
def lists(ours, owner_api) -> list[tuple[APIClient, str]]:
    """Every paginated list of the API, each with two rows, and a client that may read it."""
    agent = ours.agent
    factories.open_escalation(ours.conversation)
    factories.open_escalation(factories.make_conversation(agent, "second-chat"))
    factories.make_agent(ours.team, "Second Bot")
    factories.make_rule(agent, name="first")
    factories.make_rule(agent, name="second")
    for name in ("first", "second"):
        RuleTestCase.objects.create(agent=agent, name=name, messages=[{"role": "user", "content": "hi"}])
        Label.objects.create(team=ours.team, kind="topic", name=name)
    endpoint = webhook_services.endpoint_create(team=ours.team, url="https://93.184.216.34/hook")
    webhook_services.endpoint_create(team=ours.team, url="https://93.184.216.34/other")
    for event in Event.objects.filter(team=ours.team)[:2]:
        Delivery.objects.get_or_create(event=event, endpoint=endpoint)
    agent_api = agent_client(ours.agent_key)
    return [
        (agent_api, "/api/v1/escalations/"),
        (owner_api, "/api/v1/agents/"),
        (owner_api, f"/api/v1/agents/{agent.pk}/rules/"),
        (owner_api, f"/api/v1/agents/{agent.pk}/rule-tests/"),
        (owner_api, f"/api/v1/teams/{ours.team.pk}/labels/"),
        (owner_api, "/api/v1/webhook-endpoints/"),
        (owner_api, f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/"),
    ]


def next_cursor(client: APIClient, url: str, **params: str) -> str:
    response = client.get(url, {"limit": 1, **params})
    assert response.status_code == 200, (url, response.content)
    return parse_qs(urlsplit(response.json()["next"]).query)["cursor"][0]


def assert_not_a_cursor(response, what) -> None:
    assert response.status_code == 400, (what, response.status_code, response.content[:300])
    assert response.json()["error"]["fields"] == {"cursor": [NOT_A_CURSOR]}, what


def test_the_cursor_of_next_is_followed_on_every_list(lists):
    for client, url in lists:
        cursor = next_cursor(client, url)
        second = client.get(url, {"limit": 1, "cursor": cursor})
        assert second.status_code == 200, (url, second.content)
        assert len(second.json()["results"]) == 1, url
        previous = parse_qs(urlsplit(second.json()["previous"]).query)["cursor"][0]
        assert client.get(url, {"limit": 1, "cursor": previous}).status_code == 200, url


def test_a_cursor_the_api_did_not_hand_out_is_a_400_on_every_list(lists):
    for client, url in lists:
        real = next_cursor(client, url)
        payload, signature = real.rsplit(":", 1)
        for cursor in [
            "%%%%",
            "garbage",
            unsigned("abc"),
            unsigned("p=abc"),  # DRF's own format, position not a value of the list
            unsigned("p=2020-01-01"),  # a time without a zone: was a 500
            unsigned("o=1&r=1"),
            payload,  # the signature cut off
            f"{unsigned('p=1')}:{signature}",  # another position under the real signature
            f"{payload}:{signature[:-2]}AA",
            "é",
        ]:
            assert_not_a_cursor(client.get(url, {"limit": 1, "cursor": cursor}), (url, cursor))
    # Sent raw, not encoded by the client: the "?cursor=%%%%".
    client, url = lists[0]
    assert_not_a_cursor(client.get(f"{url}?cursor=%%%%"), "raw %%%%")


def test_another_lists_cursor_is_not_this_lists(lists, ours):
    (agent_api, escalations), (owner_api, _), (_, rules), *_ = lists
    escalation_cursor = next_cursor(agent_api, escalations)
    assert_not_a_cursor(owner_api.get(rules, {"cursor": escalation_cursor}), "rules")
    # The same list of another agent: its rule ids are not this one's.
    other = factories.make_agent(ours.team, "Third Bot")
    rules_cursor = next_cursor(owner_api, rules)
    assert_not_a_cursor(owner_api.get(f"/api/v1/agents/{other.pk}/rules/", {"cursor": rules_cursor}), "other")


def test_a_cursor_of_another_ordering_is_refused(lists):
    agent_api, url = lists[0]
    cursor = next_cursor(agent_api, url, ordering="severity")
    assert agent_api.get(url, {"ordering": "severity", "cursor": cursor}).status_code == 200
    assert_not_a_cursor(agent_api.get(url, {"ordering": "-created", "cursor": cursor}), "ordering")


@pytest.mark.parametrize("after", ["%%%%", "-1", "abc", "1.5"])
def test_the_event_feeds_after_must_be_a_non_negative_event_id(agent_api, after):
    response = agent_api.get("/api/v1/events/", {"after": after})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["after"]


def test_the_event_feeds_next_after_is_followed(ours):
    factories.open_escalation(ours.conversation)
    factories.open_escalation(factories.make_conversation(ours.agent, "second-chat"))
    api = agent_client(ours.agent_key)
    first = api.get("/api/v1/events/", {"limit": 1}).json()
    second = api.get("/api/v1/events/", {"limit": 1, "after": first["next_after"]}).json()
    assert second["results"][0]["id"] > first["results"][0]["id"]


def test_a_staff_token_gets_the_same_refusal(ours):
    # Person and agent credentials share the paginator: one check for both.
    _, token = user_token_create(user=ours.supervisor, name="second")
    response = token_client(token).get("/api/v1/escalations/", {"cursor": unsigned("p=abc")})
    assert_not_a_cursor(response, "staff")
