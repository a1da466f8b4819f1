"""Every verb of the state machine: what it changes, what it records, what it refuses."""

import pytest
import time_machine
from django.core.exceptions import ValidationError

from agents.models import ConversationStatus
from escalations import services
from escalations.models import Escalation, Event, EventType, Status
from tests import factories


def history_of(escalation):
    return list(escalation.history.order_by("history_id"))


def events_of(escalation):
    return list(Event.objects.filter(escalation=escalation).values_list("type", flat=True))


def test_claim_makes_it_mine_with_an_event_and_an_audit_row(escalation, ana):
    services.claim(escalation_id=escalation.pk, user=ana, reason="on it")

    escalation.refresh_from_db()
    assert escalation.status == Status.CLAIMED
    assert escalation.claimed_by == ana
    assert escalation.claimed_at is not None
    assert events_of(escalation) == [EventType.CREATED, EventType.CLAIMED]
    last = history_of(escalation)[-1]
    assert (last.history_user, last.history_change_reason, last.status) == (ana, "on it", "claimed")


def test_claiming_again_by_the_claimer_changes_nothing(escalation, ana):
    services.claim(escalation_id=escalation.pk, user=ana)
    services.claim(escalation_id=escalation.pk, user=ana)

    assert events_of(escalation) == [EventType.CREATED, EventType.CLAIMED]
    assert len(history_of(escalation)) == 2


@time_machine.travel("2026-11-22 14:02:00Z", tick=False)
def test_second_claim_gets_already_claimed_by_whom_and_when(escalation, ana, bob):
    services.claim(escalation_id=escalation.pk, user=ana)

    with pytest.raises(services.TransitionRefused, match="Already claimed by ana at 14:02 UTC") as refusal:
        services.claim(escalation_id=escalation.pk, user=bob)
    assert refusal.value.code == "already_claimed"
    assert Escalation.objects.get(pk=escalation.pk).claimed_by == ana


def test_release_by_the_claimer_returns_it_to_the_queue(escalation, ana):
    services.claim(escalation_id=escalation.pk, user=ana)
    services.release(escalation_id=escalation.pk, user=ana, reason="need a lawyer's eye")

    escalation.refresh_from_db()
    assert (escalation.status, escalation.claimed_by, escalation.claimed_at) == ("open", None, None)
    event = Event.objects.filter(escalation=escalation).last()
    assert event.type == EventType.RELEASED
    assert event.payload["previous_claimer"] == "ana"
    assert history_of(escalation)[-1].history_change_reason == "need a lawyer's eye"


def test_a_team_owner_may_release_anyones_claim(escalation, ana, olga):
    services.claim(escalation_id=escalation.pk, user=ana)
    services.release(escalation_id=escalation.pk, user=olga)

    assert Escalation.objects.get(pk=escalation.pk).status == Status.OPEN


def test_another_supervisor_may_not_release_my_claim(escalation, ana, bob):
    services.claim(escalation_id=escalation.pk, user=ana)

    with pytest.raises(services.NotAllowed, match="Only ana, who claimed it, or a team owner"):
        services.release(escalation_id=escalation.pk, user=bob)


def test_releasing_an_open_escalation_is_refused(escalation, ana):
    with pytest.raises(services.TransitionRefused, match="not claimed") as refusal:
        services.release(escalation_id=escalation.pk, user=ana)
    assert refusal.value.code == "not_claimed"


def test_respond_resolves_with_guidance_and_resumes_the_conversation(escalation, ana):
    assert escalation.conversation.status == ConversationStatus.AWAITING_HUMAN
    services.claim(escalation_id=escalation.pk, user=ana)
    services.respond(escalation_id=escalation.pk, user=ana, guidance="Refund $150, apologise.")

    escalation.refresh_from_db()
    assert escalation.status == Status.RESOLVED
    assert (escalation.responder, escalation.guidance) == (ana, "Refund $150, apologise.")
    assert escalation.closed_at is not None
    assert escalation.conversation.status == ConversationStatus.ACTIVE
    event = Event.objects.filter(escalation=escalation).last()
    assert event.type == EventType.RESOLVED
    assert event.payload["escalation"]["guidance"] == "Refund $150, apologise."
    assert event.actor == ana


def test_responding_to_an_open_escalation_claims_it_implicitly(escalation, bob):
    services.respond(escalation_id=escalation.pk, user=bob, guidance="Go ahead.")

    escalation.refresh_from_db()
    assert (escalation.status, escalation.claimed_by, escalation.responder) == ("resolved", bob, bob)
    assert events_of(escalation) == [EventType.CREATED, EventType.RESOLVED]


def test_respond_needs_guidance_and_changes_nothing_without_it(escalation, ana):
    with pytest.raises(ValidationError) as error:
        services.respond(escalation_id=escalation.pk, user=ana, guidance="   ")

    assert "guidance" in error.value.message_dict
    assert Escalation.objects.get(pk=escalation.pk).status == Status.OPEN
    assert events_of(escalation) == [EventType.CREATED]


def test_only_the_claimer_or_an_owner_may_answer_a_claimed_escalation(escalation, ana, bob, olga):
    services.claim(escalation_id=escalation.pk, user=ana)

    with pytest.raises(services.TransitionRefused, match="Claimed by ana .* only they or a team owner"):
        services.respond(escalation_id=escalation.pk, user=bob, guidance="Refund it.")
    with pytest.raises(services.TransitionRefused, match="Claimed by ana"):
        services.dismiss(escalation_id=escalation.pk, user=bob)

    with pytest.raises(services.TransitionRefused) as refusal:
        services.respond(escalation_id=escalation.pk, user=bob, guidance="Refund it.")
    assert refusal.value.code == "claimed_by_another"

    services.dismiss(escalation_id=escalation.pk, user=olga, note="duplicate of #12")
    assert Escalation.objects.get(pk=escalation.pk).responder == olga


def test_dismiss_closes_without_guidance_and_records_the_note(escalation, ana):
    services.dismiss(escalation_id=escalation.pk, user=ana, note="The bot was right.")

    escalation.refresh_from_db()
    assert escalation.status == Status.DISMISSED
    assert (escalation.responder, escalation.closing_note, escalation.guidance) == (
        ana,
        "The bot was right.",
        "",
    )
    assert escalation.conversation.status == ConversationStatus.ACTIVE
    assert history_of(escalation)[-1].history_change_reason == "The bot was right."


def test_withdraw_by_its_agent(escalation, agent):
    services.withdraw(escalation_id=escalation.pk, agent=agent, reason="customer left")

    escalation.refresh_from_db()
    assert escalation.status == Status.WITHDRAWN
    assert escalation.closing_note == "customer left"
    assert escalation.conversation.status == ConversationStatus.ACTIVE
    event = Event.objects.filter(escalation=escalation).last()
    assert (event.type, event.actor, event.actor_agent) == (EventType.WITHDRAWN, None, agent)
    last = history_of(escalation)[-1]
    assert last.history_user is None
    assert last.history_change_reason == "Withdrawn by agent billing-bot: customer left"


def test_another_agent_may_not_withdraw(escalation, team):
    other = factories.make_agent(team, "Sales Bot")

    with pytest.raises(services.NotAllowed):
        services.withdraw(escalation_id=escalation.pk, agent=other)


@time_machine.travel("2026-11-22 14:02:00Z", tick=False)
@pytest.mark.parametrize(
    "close, words",
    [
        (
            lambda e, ana, agent: services.respond(escalation_id=e.pk, user=ana, guidance="ok"),
            "already resolved by ana at 14:02 UTC",
        ),
        (
            lambda e, ana, agent: services.dismiss(escalation_id=e.pk, user=ana),
            "already dismissed by ana at 14:02 UTC",
        ),
        (
            lambda e, ana, agent: services.withdraw(escalation_id=e.pk, agent=agent),
            "already withdrawn by the agent Billing Bot at 14:02 UTC",
        ),
    ],
    ids=["resolved", "dismissed", "withdrawn"],
)
@pytest.mark.parametrize(
    "late_action",
    [
        lambda e, bob, agent: services.claim(escalation_id=e.pk, user=bob),
        lambda e, bob, agent: services.release(escalation_id=e.pk, user=bob),
        lambda e, bob, agent: services.respond(escalation_id=e.pk, user=bob, guidance="late"),
        lambda e, bob, agent: services.dismiss(escalation_id=e.pk, user=bob),
        lambda e, bob, agent: services.withdraw(escalation_id=e.pk, agent=agent),
    ],
    ids=["claim", "release", "respond", "dismiss", "withdraw"],
)
def test_every_action_on_a_closed_escalation_names_who_closed_it(
    escalation, ana, bob, agent, close, words, late_action
):
    close(escalation, ana, agent)
    before = Escalation.objects.get(pk=escalation.pk)
    history_rows = escalation.history.count()

    with pytest.raises(services.TransitionRefused, match=words) as refusal:
        late_action(escalation, bob, agent)
    assert refusal.value.code == f"already_{before.status}"

    after = Escalation.objects.get(pk=escalation.pk)
    assert (after.status, after.responder_id, after.guidance) == (
        before.status,
        before.responder_id,
        before.guidance,
    )
    assert escalation.history.count() == history_rows


def test_a_member_of_another_team_may_not_touch_it(escalation, outsider):
    for action in (
        lambda: services.claim(escalation_id=escalation.pk, user=outsider),
        lambda: services.respond(escalation_id=escalation.pk, user=outsider, guidance="x"),
        lambda: services.dismiss(escalation_id=escalation.pk, user=outsider),
    ):
        with pytest.raises(services.NotAllowed, match="not a member of the team Billing"):
            action()
    assert Escalation.objects.get(pk=escalation.pk).status == Status.OPEN


def test_a_superuser_may_act_on_any_team(escalation):
    root = factories.make_user("root", superuser=True)

    services.respond(escalation_id=escalation.pk, user=root, guidance="Approved.")

    assert Escalation.objects.get(pk=escalation.pk).responder == root


def test_an_unknown_escalation_is_a_clear_error(db, ana):
    with pytest.raises(services.EscalationError, match="no escalation #999"):
        services.claim(escalation_id=999, user=ana)
