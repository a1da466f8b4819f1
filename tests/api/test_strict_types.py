"""A body value of the wrong JSON type is refused, not converted (escalation_project.api.strict_fields).

DRF read 0 as false, 42 as "42" and "7" as 7; a client sending them has a bug the API should name.
"""

from __future__ import annotations

import pytest

from tests import factories
from webhooks import services as webhook_services

WRONG_TYPES = [
    # (who, method, url, body, field, expected JSON type)
    (
        "agent",
        "post",
        "/api/v1/escalations/",
        {"conversation": "c-1", "reason": 0, "severity": "info"},
        "reason",
        "text",
    ),
    (
        "agent",
        "post",
        "/api/v1/escalations/",
        {"conversation": "c-1", "reason": "r", "severity": "info", "blocking": 0},
        "blocking",
        "true or false",
    ),
    (
        "agent",
        "post",
        "/api/v1/escalations/",
        {"conversation_id": "{conversation}", "reason": "r", "severity": "info"},
        "conversation_id",
        "whole number",
    ),
    (
        "agent",
        "post",
        "/api/v1/escalations/",
        {"conversation": "c-1", "reason": "r", "severity": 1},
        "severity",
        "text",
    ),
    (
        "agent",
        "post",
        "/api/v1/conversations/{conversation}/messages/",
        {"role": "user", "content": 0},
        "content",
        "text",
    ),
    ("agent", "post", "/api/v1/conversations/", {"external_id": 7}, "external_id", "text"),
    (
        "supervisor",
        "post",
        "/api/v1/escalations/{escalation}/feedback/",
        {"needed": 0},
        "needed",
        "true or false",
    ),
    (
        "supervisor",
        "post",
        "/api/v1/escalations/{escalation}/respond/",
        {"guidance": "ok", "needed": "yes"},
        "needed",
        "true or false",
    ),
    (
        "contributor",
        "post",
        "/api/v1/agents/{agent}/rule-tests/",
        {"name": "t", "messages": [{"role": "user", "content": "hi"}], "should_escalate": 0},
        "should_escalate",
        "true or false",
    ),
    (
        "contributor",
        "post",
        "/api/v1/agents/{agent}/rule-tests/",
        {"name": "t", "messages": [{"role": "user", "content": "hi"}], "expected_rule": "{rule}"},
        "expected_rule",
        "whole number",
    ),
    (
        "contributor",
        "patch",
        "/api/v1/agents/{agent}/",
        {"escalation_enabled": "no"},
        "escalation_enabled",
        "true or false",
    ),
    ("contributor", "patch", "/api/v1/agents/{agent}/", {"name": 5}, "name", "text"),
    ("contributor", "patch", "/api/v1/agents/{agent}/rules/{rule}/", {"order": "2"}, "order", "whole number"),
    (
        "contributor",
        "post",
        "/api/v1/agents/{agent}/evaluate/",
        {"messages": [{"role": "user", "content": 0}]},
        "messages",
        "text",
    ),
    (
        "owner",
        "put",
        "/api/v1/teams/{team}/targets/high/",
        {"response_minutes": "30", "resolution_minutes": 60, "claim_minutes": 10, "reminder_minutes": 10},
        "response_minutes",
        "whole number",
    ),
    (
        "owner",
        "put",
        "/api/v1/teams/{team}/ladder/",
        {"levels": [{"after_minutes": 5, "notify_owners": 1}]},
        "levels[0].notify_owners",
        "true or false",
    ),
    (
        "contributor",
        "post",
        "/api/v1/webhook-endpoints/",
        {"team": "{team}", "url": "http://127.0.0.1:9/"},
        "team",
        "whole number",
    ),
    (
        "contributor",
        "post",
        "/api/v1/webhook-endpoints/",
        {"team": "{team_id}", "url": "http://127.0.0.1:9/", "active": 1},
        "active",
        "true or false",
    ),
]


@pytest.fixture
def clients(agent_api, supervisor_api, contributor_api, owner_api):
    return {
        "agent": agent_api,
        "supervisor": supervisor_api,
        "contributor": contributor_api,
        "owner": owner_api,
    }


@pytest.fixture
def names(ours):
    escalation = factories.open_escalation(ours.conversation)
    rule = factories.make_rule(ours.agent)
    return {
        "conversation": ours.conversation.pk,
        "escalation": escalation.pk,
        "agent": ours.agent.pk,
        "rule": rule.pk,
        "team": ours.team.pk,
    }


def _fill(value, names: dict[str, int]):
    """ "{x}" in a URL is the id of x; as a whole body value it is that id as text (the wrong type),
    and "{team_id}" is the id as a number."""
    if isinstance(value, str):
        if value == "{team_id}":
            return names["team"]
        if value.startswith("{") and value.endswith("}") and value.count("{") == 1:
            return str(names[value[1:-1]])
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("who", "method", "url", "body", "field", "expected"), WRONG_TYPES)
def test_a_value_of_the_wrong_json_type_is_refused(
    clients, names, settings, who, method, url, body, field, expected
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    response = getattr(clients[who], method)(url.format(**names), _fill(body, names), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert expected in " ".join(error["fields"][field])


@pytest.mark.parametrize(
    "url",
    [
        'http://example.com/"><script>alert(1)</script>',
        "http://example.com/a b",
        "http://example.com/{x}",
        "javascript:alert(1)",
        "ftp://example.com/",
    ],
)
def test_a_webhook_url_outside_rfc_3986_or_http_is_refused(contributor_api, ours, settings, url):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    response = contributor_api.post(
        "/api/v1/webhook-endpoints/", {"team": ours.team.pk, "url": url}, format="json"
    )
    assert response.status_code == 400
    assert "url" in response.json()["error"]["fields"]


def test_a_percent_encoded_webhook_url_is_accepted(contributor_api, ours, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    url = "http://127.0.0.1:9/hook?to=%22x%22&a=b#frag"
    response = contributor_api.post(
        "/api/v1/webhook-endpoints/", {"team": ours.team.pk, "url": url}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["url"] == url


def test_the_right_types_are_still_accepted(agent_api, supervisor_api, ours):
    escalation = agent_api.post(
        "/api/v1/escalations/",
        {"conversation_id": ours.conversation.pk, "reason": "r", "severity": "info", "blocking": False},
        format="json",
    )
    assert escalation.status_code == 201, escalation.content
    feedback = supervisor_api.post(
        f"/api/v1/escalations/{escalation.json()['id']}/feedback/", {"needed": False}, format="json"
    )
    assert feedback.status_code == 200
    assert feedback.json()["needed"] is False


@pytest.mark.parametrize(
    ("who", "url", "field"),
    [
        ("agent", "/api/v1/events/?after=", "after"),
        ("agent", "/api/v1/escalations/{escalation}/?wait=", "wait"),
        ("contributor", "/api/v1/webhook-endpoints/{endpoint}/deliveries/?status=", "status"),
    ],
)
def test_an_empty_query_value_is_refused(clients, names, ours, settings, who, url, field):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    # DRF read `?after=` as "not given"; the schema says an integer (or one of the statuses).
    names = {
        **names,
        "endpoint": webhook_services.endpoint_create(team=ours.team, url="http://127.0.0.1:9/").pk,
    }
    response = clients[who].get(url.format(**names))
    assert response.status_code == 400
    assert response.json()["error"]["fields"][field] == ["Give a value, or leave the parameter out."]
