"""@client.require_human on a risky function, sync and async, against daphne; ana answers over the API."""

from __future__ import annotations

import asyncio

import pytest
from escalation_console import AsyncClient, Dismissed

from tests.client.conftest import answered_while_waiting, dismiss, respond, wait_for

pytestmark = pytest.mark.slow


def the_open_escalation(billing) -> dict:
    """The one open escalation of Billing, as ana sees it in the API (no ORM: callable from any thread)."""

    def found():
        listed = billing.as_supervisor("GET", "/escalations/", params={"status": "open"})
        assert listed.status_code == 200, listed.text
        return listed.json()["results"]

    (escalation,) = wait_for(found, "the guard's escalation")
    return escalation


def test_the_guarded_function_runs_with_the_guidance_once_a_person_responds(client, billing):
    ran: list[tuple] = []

    @client.require_human(severity="critical", reason="Refund over the limit", topic="refunds")
    def refund(order: str, amount: int, *, guidance: str = "") -> str:
        ran.append((order, amount, guidance))
        return "refunded"

    def answer():
        escalation = the_open_escalation(billing)
        # The person sees the call they are asked to allow.
        assert escalation["reason"] == "Refund over the limit — refund('A-1', 150)"
        assert (escalation["severity"], escalation["topic"], escalation["blocking"]) == (
            "critical",
            "refunds",
            True,
        )
        assert ran == []  # nothing ran before the answer
        respond(billing, escalation["id"], "Go ahead, but only $120.")

    assert answered_while_waiting(lambda: refund("A-1", 150), answer) == "refunded"
    assert ran == [("A-1", 150, "Go ahead, but only $120.")]


def test_a_dismissal_raises_dismissed_and_the_function_does_not_run(client, billing):
    ran: list[str] = []

    @client.require_human(reason=lambda account: f"Delete account {account}?")
    def delete_account(account: str) -> None:
        ran.append(account)

    def answer():
        escalation = the_open_escalation(billing)
        assert escalation["reason"] == "Delete account acme? — delete_account('acme')"
        dismiss(billing, escalation["id"], "Not without the owner.")

    with pytest.raises(Dismissed) as raised:
        answered_while_waiting(lambda: delete_account("acme"), answer)

    assert (raised.value.resolution.outcome, raised.value.resolution.note) == (
        "dismissed",
        "Not without the owner.",
    )
    assert ran == []


def test_async_guard_runs_after_the_answer_and_raises_dismissed_on_dismissal(billing):
    ran: list[tuple] = []

    async def main():
        async with AsyncClient(billing.base, billing.agent_key, timeout=30) as client:

            @client.require_human(severity="warning", reason="Send the legal letter")
            async def send_letter(to: str, *, guidance: str) -> str:
                ran.append((to, guidance))
                return "sent"

            # The supervisor's side runs in a thread: `wait_for` polls the API with requests.
            sending = asyncio.create_task(send_letter("bob"))
            escalation = await asyncio.to_thread(the_open_escalation, billing)
            await asyncio.to_thread(respond, billing, escalation["id"], "Soften the second paragraph.")
            assert await asyncio.wait_for(sending, 60) == "sent"

            refused = asyncio.create_task(send_letter("eve"))
            escalation = await asyncio.to_thread(the_open_escalation, billing)
            await asyncio.to_thread(dismiss, billing, escalation["id"], "No.")
            with pytest.raises(Dismissed):
                await asyncio.wait_for(refused, 60)

    asyncio.run(main())

    assert ran == [("bob", "Soften the second paragraph.")]


def test_async_client_escalates_and_waits(billing):
    async def main():
        async with AsyncClient(billing.base, billing.agent_key, timeout=30) as client:
            escalation = await client.escalate("Async question", "info", conversation="async-1")
            waiting = asyncio.create_task(escalation.wait())
            await asyncio.to_thread(respond, billing, escalation.id, "Async answer.")
            resolution = await asyncio.wait_for(waiting, 60)
            events = [event async for event in client.events() if event.escalation_id == escalation.id]
            return resolution, events

    resolution, events = asyncio.run(main())

    assert (resolution.outcome, resolution.guidance) == ("resumed", "Async answer.")
    assert [event.type for event in events] == ["escalation.created", "escalation.resolved"]
