"""The rows and credentials the schema fuzzing works on: a team with an owner, an agent with a
rule, a rule test, a label, a webhook endpoint with a failed delivery, a conversation with an open
escalation, and a second team (for the ladder's notify_team).

Used by the `world` fixture of tests/api/test_schema_fuzz.py, and by tests/api/fuzz_live.py, which
writes it with write_world() into its scratch database and hands the JSON to the hooks (FUZZ_WORLD).
"""

from __future__ import annotations

import dataclasses
import json

from agents.keys import agent_key_create
from agents.models import Label, RuleTestCase
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.fuzz_hooks import World
from webhooks import services as webhooks
from webhooks.models import Delivery, DeliveryStatus


def make_world() -> World:
    team = factories.make_team("Billing")
    other_team = factories.make_team("Support")
    owner = factories.make_user("olga")
    factories.add_member(owner, team, Role.OWNER)
    # Guidance to answer with, so the "answer" timeout policy is valid for it (a stored value).
    agent = factories.make_agent(team, "Billing Bot", timeout_guidance="Go ahead with the standard answer.")
    rule = factories.make_rule(agent)
    case = RuleTestCase.objects.create(
        agent=agent, name="refund", messages=[{"role": "user", "content": "refund please"}]
    )
    label = Label.objects.create(team=team, kind="topic", name="refunds")
    # An area too: a run that adds area labels would otherwise make every made-up area unknown.
    area = Label.objects.create(team=team, kind="area", name="billing")
    endpoint = webhooks.endpoint_create(team=team, url="http://127.0.0.1:9/hook")
    conversation = factories.make_conversation(agent, "chat-1")
    escalation = factories.open_escalation(conversation)
    delivery = Delivery.objects.get(endpoint=endpoint)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    _, agent_key = agent_key_create(agent=agent, name="fuzz")
    _, user_token = user_token_create(user=owner)
    return World(
        agent_key=agent_key,
        user_token=user_token,
        username=owner.get_username(),
        topic=label.name,
        area=area.name,
        ids={
            "user_id": owner.pk,
            "team_id": team.pk,
            "other_team_id": other_team.pk,
            "agent_id": agent.pk,
            "rule_id": rule.pk,
            "test_id": case.pk,
            "label_id": label.pk,
            "endpoint_id": endpoint.pk,
            "delivery_id": delivery.pk,
            "conversation_id": conversation.pk,
            "escalation_id": escalation.pk,
        },
    )


def write_world(path: str) -> None:
    with open(path, "w") as out:
        json.dump(dataclasses.asdict(make_world()), out)
