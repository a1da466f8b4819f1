"""escalation_console.Client against daphne: escalate, a person answers over the API, wait() returns."""

from __future__ import annotations

import datetime as dt

import pytest
from escalation_console import (
    AlreadyResolved,
    AuthenticationError,
    Client,
    ConversationPaused,
    IdempotencyKeyReused,
    NotFound,
    ValidationError,
    WaitTimedOut,
)

from escalations.models import Escalation
from tests.client.conftest import answered_while_waiting, dismiss, respond

pytestmark = pytest.mark.slow


def test_wait_returns_the_supervisors_guidance(client, billing):
    escalation = client.escalate(
        "Refund of $150 over the limit", "critical", conversation="chat-1", urgency="high", topic="refunds"
    )
    assert (escalation.status, escalation.blocking, escalation.conversation_external_id) == (
        "open",
        True,
        "chat-1",
    )

    resolution = answered_while_waiting(
        escalation.wait, lambda: respond(billing, escalation.id, "Refund it and apologise.")
    )

    assert (resolution.outcome, resolution.guidance, resolution.responder) == (
        "resumed",
        "Refund it and apologise.",
        "ana",
    )
    assert isinstance(resolution.at, dt.datetime)
    stored = Escalation.objects.get(pk=escalation.id)
    assert (stored.severity, stored.urgency, stored.topic) == ("critical", "high", "refunds")


def test_wait_returns_a_dismissal_with_its_note(client, billing):
    escalation = client.escalate("Customer mentions a lawyer", "warning", conversation="chat-2")

    resolution = answered_while_waiting(
        lambda: client.wait_for_resolution(escalation.id), lambda: dismiss(billing, escalation.id, "No risk.")
    )

    assert (resolution.outcome, resolution.note, resolution.guidance) == ("dismissed", "No risk.", "")


def test_wait_with_a_timeout_gives_up_and_leaves_the_escalation_open(client):
    escalation = client.escalate("Nobody answers this one", "info", conversation="chat-3")

    with pytest.raises(WaitTimedOut) as raised:
        escalation.wait(timeout=1)

    assert raised.value.escalation_id == escalation.id
    assert client.get_escalation(escalation.id).status == "open"


def test_withdraw_closes_the_escalation_and_a_second_withdraw_is_already_resolved(client):
    escalation = client.escalate("Handled it myself", "info", conversation="chat-4")

    withdrawn = escalation.withdraw(reason="The customer left")

    assert (withdrawn.status, withdrawn.resolution.outcome) == ("withdrawn", "withdrawn")
    assert withdrawn.wait().outcome == "withdrawn"  # final: wait returns at once
    with pytest.raises(AlreadyResolved) as raised:
        client.withdraw(escalation.id)
    assert (raised.value.status, raised.value.code) == (409, "already_withdrawn")


def test_an_agent_message_on_a_paused_conversation_raises_conversation_paused(client):
    conversation = client.conversation("chat-5", channel="chat", subject="Broken blender")
    assert conversation.created and not conversation.paused
    posted = conversation.post_message("user", "I want a refund of $150, today.")
    assert posted.escalation is not None and posted.paused  # the refund rule fired
    assert posted.message.role == "user"

    # The customer writes again, quietly: no new escalation, and still paused by the first.
    quiet = conversation.post_message("user", "Hello?")
    assert (quiet.escalation, quiet.paused) == (None, True)

    with pytest.raises(ConversationPaused) as raised:
        conversation.post_message("agent", "Sure, refunding now.")

    assert raised.value.status == 409
    again = client.conversation("chat-5")
    assert (again.id, again.created, again.paused) == (conversation.id, False, True)
    assert again.open_escalation.id == posted.escalation.id


def test_a_message_no_rule_fires_on_is_recorded_without_an_escalation(client):
    conversation = client.conversation("chat-6")

    posted = conversation.post_message("user", "Where is my parcel?")

    assert (posted.escalation, posted.hits, posted.paused) == (None, [], False)
    assert posted.message.content == "Where is my parcel?"


def test_bad_input_raises_validation_error_with_the_fields(client):
    with pytest.raises(ValidationError) as raised:
        client.escalate("x" * 501, "apocalyptic", conversation="chat-7")

    assert raised.value.status == 400
    assert set(raised.value.fields) == {"reason", "severity"}


def test_the_same_idempotency_key_returns_the_first_escalation(client, billing):
    first = client.escalate("Refund?", "warning", conversation="chat-8", idempotency_key="call-1")
    retried = client.escalate("Refund?", "warning", conversation="chat-8", idempotency_key="call-1")

    assert retried.id == first.id
    assert Escalation.objects.filter(agent=billing.agent).count() == 1
    with pytest.raises(IdempotencyKeyReused):
        client.escalate("Another question", "warning", conversation="chat-8", idempotency_key="call-1")


def test_a_second_call_on_the_conversation_is_added_to_its_open_escalation(client):
    first = client.escalate("Refund?", "warning", conversation="chat-9")
    second = client.escalate("Now angry", "critical", conversation="chat-9")

    assert (second.id, second.added_to_existing, second.severity) == (first.id, True, "critical")


def test_the_event_feed_iterates_every_page_from_after(client, billing):
    before = list(client.events())
    after = before[-1].id if before else 0
    escalation = client.escalate("Refund?", "warning", conversation="chat-10")
    respond(billing, escalation.id, "Yes.")

    events = [event for event in client.events(after=after, limit=1) if event.escalation_id == escalation.id]

    assert [event.type for event in events] == ["escalation.created", "escalation.resolved"]
    assert [event.id for event in events] == sorted(event.id for event in events)
    assert events[0].data["escalation"]["reason"] == "Refund?"


def test_a_wrong_key_raises_authentication_error(billing):
    with Client(billing.base, "ak_wrong", timeout=30) as client, pytest.raises(AuthenticationError) as raised:
        client.get_escalation(1)

    assert raised.value.status == 401


def test_another_agents_escalation_is_not_found(client):
    with pytest.raises(NotFound):
        client.get_escalation(999_999)
