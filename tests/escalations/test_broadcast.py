"""Committed transitions reach the team's channel group over a real Redis; rolled-back ones never do."""

import asyncio
import json
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from escalations import services
from escalations.broadcast import team_group
from escalations.models import Event
from supervisors.models import Role
from tests import factories


class Rollback(Exception):
    pass


@pytest.fixture
def setup(transactional_db):
    team = factories.make_team("Billing")
    other_team = factories.make_team("Legal")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    conversation = factories.make_conversation(factories.make_agent(team, "Billing Bot"))
    return team, other_team, ana, conversation


async def listen(group: str):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def next_message(layer, channel, timeout=5.0):
    return await asyncio.wait_for(layer.receive(channel), timeout)


def test_open_and_claim_are_broadcast_to_the_team_after_commit(setup):
    team, other_team, ana, conversation = setup

    async def scenario():
        layer, channel = await listen(team_group(team.pk))
        other_layer, other_channel = await listen(team_group(other_team.pk))
        escalation = await database_sync_to_async(factories.open_escalation)(conversation)
        created = await next_message(layer, channel)
        await database_sync_to_async(services.claim)(escalation_id=escalation.pk, user=ana)
        claimed = await next_message(layer, channel)
        with pytest.raises(asyncio.TimeoutError):
            await next_message(other_layer, other_channel, timeout=0.3)
        return escalation, created, claimed

    escalation, created, claimed = async_to_sync(scenario)()

    events = list(Event.objects.filter(escalation=escalation).order_by("id"))
    assert [created["event_id"], claimed["event_id"]] == [event.id for event in events]
    created, claimed = json.loads(created["frame"]), json.loads(claimed["frame"])  # as the socket sends it
    assert [created["id"], claimed["id"]] == [event.id for event in events]
    assert created["event_type"] == "escalation.created"
    assert claimed["event_type"] == "escalation.claimed"
    assert claimed["data"]["escalation"]["claimed_by"] == "ana"
    assert claimed["data"] == events[1].payload


def test_a_rolled_back_transition_is_never_broadcast(setup):
    team, _, ana, conversation = setup
    escalation = factories.open_escalation(conversation)

    def claim_then_fail():
        with transaction.atomic():
            services.claim(escalation_id=escalation.pk, user=ana)
            raise Rollback

    async def scenario():
        layer, channel = await listen(team_group(team.pk))
        with pytest.raises(Rollback):
            await database_sync_to_async(claim_then_fail)()
        with pytest.raises(asyncio.TimeoutError):
            await next_message(layer, channel, timeout=0.5)

    async_to_sync(scenario)()
    assert list(Event.objects.values_list("type", flat=True)) == ["escalation.created"]


def test_redis_down_does_not_undo_a_committed_transition(setup, settings, caplog):
    """The Event row is the record; a console that missed the push replays it by id."""
    _, _, ana, conversation = setup
    escalation = factories.open_escalation(conversation)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens on port 1
        }
    }

    with caplog.at_level(logging.WARNING, logger="escalations.broadcast"):
        services.claim(escalation_id=escalation.pk, user=ana)

    escalation.refresh_from_db()
    assert escalation.status == "claimed"
    assert Event.objects.filter(escalation=escalation, type="escalation.claimed").exists()
    assert "consoles will catch up by replay" in caplog.text
