"""?wait=N: the agent's GET returns as soon as a supervisor answers, over the real channel layer (Redis)."""

import asyncio
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient

from escalations import services
from escalations.fanout import team_fan_out
from tests import factories
from tests.api.conftest import make_side
from tests.waiting import async_wait_until


@pytest.fixture
def side(transactional_db):
    return make_side("Billing", "Billing Bot", "ana")


async def polls_waiting(side, count: int) -> None:
    """Until `count` long-polls of this event loop listen to the team's events (they subscribe
    before their last read, so an answer from now on reaches them by the event)."""
    await async_wait_until(
        lambda: len(team_fan_out().listeners.get(side.team.pk, ())) == count,
        message=f"{count} long-poll(s) listening to the team's events",
    )


async def get(side, escalation, wait):
    return await AsyncClient().get(
        f"/api/v1/escalations/{escalation.pk}/",
        {"wait": wait},
        headers={"Authorization": f"Bearer {side.agent_key}"},
    )


def test_the_wait_ends_when_a_supervisor_responds(side):
    escalation = factories.open_escalation(side.conversation)

    async def scenario():
        waiting = asyncio.ensure_future(get(side, escalation, 30))
        await polls_waiting(side, 1)
        assert not waiting.done()
        await sync_to_async(services.respond)(
            escalation_id=escalation.pk, user=side.supervisor, guidance="Go ahead."
        )
        return await waiting

    response = async_to_sync(scenario)()
    assert response.status_code == 200
    body = response.json()
    # A poll that ran out of time answers the row as it was ("open"): this one was woken.
    assert body["status"] == "resolved"
    assert body["resolution"]["outcome"] == "resumed"
    assert body["resolution"]["guidance"] == "Go ahead."


def test_events_of_other_escalations_do_not_end_the_wait(side):
    escalation = factories.open_escalation(side.conversation)
    other = factories.open_escalation(factories.make_conversation(side.agent))

    async def scenario():
        waiting = asyncio.ensure_future(get(side, escalation, 30))
        other_waiting = asyncio.ensure_future(get(side, other, 30))
        await polls_waiting(side, 2)
        await sync_to_async(services.dismiss)(escalation_id=other.pk, user=side.supervisor)
        # The other poll was woken by the very message this one was handed too.
        other_response = await other_waiting
        assert not waiting.done()
        await sync_to_async(services.respond)(
            escalation_id=escalation.pk, user=side.supervisor, guidance="Go ahead."
        )
        return other_response, await waiting

    other_response, response = async_to_sync(scenario)()
    assert other_response.json()["status"] == "dismissed"
    # Had the other's event ended this wait, it would have answered "open" before the response.
    assert response.json()["status"] == "resolved"


def test_the_wait_times_out_with_the_escalation_still_open(side):
    escalation = factories.open_escalation(side.conversation)

    async def scenario():
        waiting = asyncio.ensure_future(get(side, escalation, 1))
        await polls_waiting(side, 1)  # it waited on the team's events ...
        response = await waiting
        # ... and, given up, stopped listening.
        assert team_fan_out().listeners.get(side.team.pk) is None
        return response

    response = async_to_sync(scenario)()
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert response.json()["resolution"] is None


def test_an_escalation_already_final_returns_at_once(side):
    escalation = factories.open_escalation(side.conversation)
    services.withdraw(escalation_id=escalation.pk, agent=side.agent)
    with mock.patch("escalations.api.longpoll.team_fan_out") as fan_out:
        response = async_to_sync(get)(side, escalation, 30)
    fan_out.assert_not_called()  # nothing to wait for: it never subscribed
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
        waiting = [asyncio.ensure_future(get(side, escalation, 30)) for _ in range(20)]
        await polls_waiting(side, 20)
        # Were a waiting poll to hold the thread the answer needs, this would block until the
        # polls ran out of time, and they would then answer "open".
        await sync_to_async(services.respond)(
            escalation_id=escalation.pk, user=side.supervisor, guidance="Yes."
        )
        return await asyncio.gather(*waiting)

    responses = async_to_sync(scenario)()
    assert {response.json()["status"] for response in responses} == {"resolved"}


def test_without_the_channel_layer_the_poll_answers_at_once_instead_of_failing(side, caplog):
    escalation = factories.open_escalation(side.conversation)
    broken = mock.Mock()
    broken.new_channel = mock.AsyncMock(side_effect=ConnectionError("redis down"))
    with mock.patch("escalations.fanout.get_channel_layer", return_value=broken):
        response = async_to_sync(get)(side, escalation, 30)
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    # Answered because it could not subscribe, not after waiting out the 30 s.
    assert "cannot subscribe" in caplog.text and "answering at once" in caplog.text
