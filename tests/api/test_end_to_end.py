"""The agent's whole round trip over real HTTP, against daphne in its own process.

An agent posts messages, one fires a rule and pauses the conversation, a
supervisor answers with a staff token, and the agent's long-poll comes back
with the guidance. The server shares the test database and the test Redis.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from tests import factories
from tests.live_server import running_daphne
from tests.waiting import team_group_subscribers, wait_until


@pytest.fixture
def server(transactional_db, tmp_path: Path):
    with running_daphne(tmp_path) as base:
        yield base


@pytest.fixture
def parties(transactional_db):
    team, _, key, token = factories.make_refund_desk()
    return team, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Token {token}"}


def test_a_rule_pauses_the_agent_until_a_supervisor_answers_and_the_long_poll_returns_it(server, parties):
    team, as_agent, as_supervisor = parties
    api = f"{server}/api/v1"

    created = requests.post(
        f"{api}/conversations/", json={"external_id": "chat-42", "channel": "chat"}, headers=as_agent
    )
    assert created.status_code == 201, created.text
    conversation_id = created.json()["id"]
    messages = f"{api}/conversations/{conversation_id}/messages/"

    calm = requests.post(
        messages, json={"role": "user", "content": "My blender arrived broken."}, headers=as_agent
    )
    assert calm.status_code == 201, calm.text
    assert calm.json()["escalation"] is None

    firing = requests.post(
        messages, json={"role": "user", "content": "I want a refund of $150, today."}, headers=as_agent
    )
    assert firing.status_code == 201, firing.text
    escalation = firing.json()["escalation"]
    assert (escalation["status"], escalation["severity"]) == ("open", "critical")
    assert escalation["reason"] == "Customer asked for a refund of $150 (limit $100)"

    paused = requests.post(messages, json={"role": "agent", "content": "Refunded!"}, headers=as_agent)
    assert paused.status_code == 409
    assert paused.json()["error"]["code"] == "conversation_paused"

    waited: dict = {}

    def long_poll():
        waited["response"] = requests.get(
            f"{api}/escalations/{escalation['id']}/?wait=30", headers=as_agent, timeout=40
        )

    poller = threading.Thread(target=long_poll)
    poller.start()
    # No console page is open: a subscriber to the team's events is the agent's long-poll.
    wait_until(
        lambda: team_group_subscribers(team.pk) > 0,
        message="the agent's long-poll subscribing to the team's events",
    )
    assert poller.is_alive()

    answered = requests.post(
        f"{api}/escalations/{escalation['id']}/respond/",
        json={"guidance": "Refund $150 and apologise for the delay."},
        headers=as_supervisor,
    )
    assert answered.status_code == 200, answered.text
    poller.join(timeout=35)

    body = waited["response"].json()
    assert waited["response"].status_code == 200, body
    # Woken by the answer: a poll that ran out of time answers the row as it was, "open".
    assert body["status"] == "resolved"
    assert body["resolution"]["outcome"] == "resumed"
    assert body["resolution"]["guidance"] == "Refund $150 and apologise for the delay."
    assert body["resolution"]["responder"] == "ana"

    again = requests.post(
        f"{api}/escalations/{escalation['id']}/respond/", json={"guidance": "late"}, headers=as_supervisor
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_resolved"
    assert "already resolved by ana" in again.json()["error"]["message"]

    resumed = requests.post(messages, json={"role": "agent", "content": "Refunded, sorry!"}, headers=as_agent)
    assert resumed.status_code == 201, resumed.text
