"""?wait=N: the agent's GET returns as soon as a supervisor answers, over the real channel layer (Redis)."""

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient

from escalations import services
from tests import factories
from tests.api.conftest import make_side


@pytest.fixture
def side(transactional_db):
    return make_side("Billing", "Billing Bot", "ana")


async def get(side, escalation, wait):
    return await AsyncClient().get(
        f"/api/v1/escalations/{escalation.pk}/",
        {"wait": wait},
        headers={"Authorization": f"Bearer {side.agent_key}"},
    )


def test_the_wait_ends_when_a_supervisor_responds(side):
    escalation = factories.open_escalation(side.conversation)

    async def scenario():
        waiting = asyncio.ensure_future(get(side, escalation, 20))
        await asyncio.sleep(0.5)  # the poll is subscribed and waiting by now
        assert not waiting.done()
        await sync_to_async(services.respond)(
            escalation_id=escalation.pk, user=side.supervisor, guidance="Go ahead."
        )
        return await asyncio.wait_for(waiting, 5)

    started = time.monotonic()
    response = async_to_sync(scenario)()
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "resolved"
    assert body["resolution"]["outcome"] == "resumed"
    assert body["resolution"]["guidance"] == "Go ahead."


def test_events_of_other_escalations_do_not_end_the_wait(side):
    escalation = factories.open_escalation(side.conversation)
    other = factories.open_escalation(factories.make_conversation(side.agent))

    async def scenario():
        waiting = asyncio.ensure_future(get(side, escalation, 2))
        await asyncio.sleep(0.5)
        await sync_to_async(services.dismiss)(escalation_id=other.pk, user=side.supervisor)
        await asyncio.sleep(0.5)
        assert not waiting.done()
        return await asyncio.wait_for(waiting, 5)

    response = async_to_sync(scenario)()
    assert response.json()["status"] == "open"


def test_the_wait_times_out_with_the_escalation_still_open(side):
    escalation = factories.open_escalation(side.conversation)
    started = time.monotonic()
    response = async_to_sync(get)(side, escalation, 1)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 4
    assert response.json()["status"] == "open"
    assert response.json()["resolution"] is None


def test_an_escalation_already_final_returns_at_once(side):
    escalation = factories.open_escalation(side.conversation)
    services.withdraw(escalation_id=escalation.pk, agent=side.agent)
    started = time.monotonic()
    response = async_to_sync(get)(side, escalation, 30)
    assert time.monotonic() - started < 2
    assert response.json()["resolution"]["outcome"] == "withdrawn"


def test_a_long_poll_on_another_teams_escalation_is_404_at_once(side):
    theirs = make_side("Legal", "Legal Bot", "otto")
    escalation = factories.open_escalation(theirs.conversation)
    response = async_to_sync(get)(side, escalation, 30)
    assert response.status_code == 404


def test_every_middleware_is_async_capable_so_a_waiting_poll_holds_no_thread(settings):
    # One sync-only middleware would make Django wrap the async view in
    # async_to_sync, pinning a thread for the whole wait.
    from django.utils.module_loading import import_string

    sync_only = [
        name for name in settings.MIDDLEWARE if not getattr(import_string(name), "async_capable", False)
    ]
    assert sync_only == []


def test_many_waiting_polls_do_not_stop_a_supervisor_from_answering(side):
    escalation = factories.open_escalation(side.conversation)

    async def scenario():
        waiting = [asyncio.ensure_future(get(side, escalation, 10)) for _ in range(20)]
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await sync_to_async(services.respond)(
            escalation_id=escalation.pk, user=side.supervisor, guidance="Yes."
        )
        answered_in = time.monotonic() - started
        responses = await asyncio.wait_for(asyncio.gather(*waiting), 5)
        return answered_in, responses

    answered_in, responses = async_to_sync(scenario)()
    assert answered_in < 2
    assert {response.json()["status"] for response in responses} == {"resolved"}


def test_without_the_channel_layer_the_poll_answers_at_once_instead_of_failing(side):
    escalation = factories.open_escalation(side.conversation)
    from unittest import mock

    broken = mock.Mock()
    broken.new_channel = mock.AsyncMock(side_effect=ConnectionError("redis down"))
    with mock.patch("escalations.fanout.get_channel_layer", return_value=broken):
        started = time.monotonic()
        response = async_to_sync(get)(side, escalation, 30)
    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert response.json()["status"] == "open"
