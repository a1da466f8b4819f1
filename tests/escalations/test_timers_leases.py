"""Claim leases: a claim lasts its urgency's claim time, the claimer extends it, a lapsed one is released."""

import pytest
import time_machine

from escalations import services, timers
from escalations.models import Escalation, Event, EventType, Status, UrgencyTarget
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import token_client
from tests.escalations.conftest import at


def sweep(minutes: float):
    with time_machine.travel(at(minutes), tick=False):
        return timers.sweep()


def claim(escalation, user, minutes: float):
    with time_machine.travel(at(minutes), tick=False):
        return services.claim(escalation_id=escalation.pk, user=user)


def releases(escalation):
    return list(
        Event.objects.filter(escalation=escalation, type=EventType.RELEASED).values_list("payload", flat=True)
    )


@pytest.mark.parametrize("severity, minutes", [("critical", 15), ("warning", 30), ("info", 60)])
def test_a_claim_lasts_its_urgencys_claim_time(conversation, ana, severity, minutes):
    escalation = factories.open_escalation(conversation, severity=severity)

    with time_machine.travel(at(1), tick=False):
        claimed = services.claim(escalation_id=escalation.pk, user=ana)

    assert claimed.claim_expires_at == at(1 + minutes)
    assert Escalation.objects.get(pk=escalation.pk).claim_expires_at == at(1 + minutes)


def test_the_teams_claim_time_applies(team, critical, ana):
    UrgencyTarget.objects.create(
        team=team,
        urgency="high",
        response_minutes=15,
        resolution_minutes=60,
        claim_minutes=5,
        reminder_minutes=15,
    )

    assert claim(critical, ana, 2).claim_expires_at == at(7)


def test_a_lapsed_claim_returns_to_the_queue_once_as_a_release(critical, ana):
    claim(critical, ana, 2)

    assert sweep(16.9)["claim_expiry"] == 0
    assert sweep(17)["claim_expiry"] == 1
    assert sweep(18)["claim_expiry"] == 0

    critical.refresh_from_db()
    assert (critical.status, critical.claimed_by, critical.claimed_at, critical.claim_expires_at) == (
        Status.OPEN,
        None,
        None,
        None,
    )
    (released,) = releases(critical)
    assert (released["reason"], released["previous_claimer"]) == ("claim expired", "ana")
    assert released["actor"] == {"user": None, "agent": None}
    audit = critical.history.filter(history_change_reason__startswith="Timer: claim").get()
    assert (audit.history_user, audit.history_change_reason) == (
        None,
        "Timer: claim by ana expired (09:17 UTC)",
    )


def test_after_the_claim_lapsed_another_supervisor_can_take_it(critical, ana, bob):
    claim(critical, ana, 2)
    sweep(20)

    claim(critical, bob, 21)

    assert Escalation.objects.get(pk=critical.pk).claimed_by == bob


def test_extending_renews_the_full_claim_time_from_now(critical, ana):
    claim(critical, ana, 2)
    with time_machine.travel(at(10), tick=False):
        services.extend_claim(escalation_id=critical.pk, user=ana)

    sweep(20)
    critical.refresh_from_db()
    assert (critical.status, critical.claim_expires_at) == (Status.CLAIMED, at(25))
    event = Event.objects.filter(escalation=critical).last()
    assert event.type == EventType.UPDATED
    assert event.payload["changes"] == {"claim_expires_at": [at(17).isoformat(), at(25).isoformat()]}
    assert event.payload["reason"] == "claim extended"
    assert critical.history.latest("history_id").history_change_reason == "Claim extended to 09:25 UTC"
    sweep(25)
    assert Escalation.objects.get(pk=critical.pk).status == Status.OPEN


def test_only_the_claimer_can_extend(critical, ana, olga):
    claim(critical, ana, 2)

    with pytest.raises(services.NotAllowed, match="Only ana, who claimed it, can extend the claim."):
        services.extend_claim(escalation_id=critical.pk, user=olga)


def test_an_open_escalation_has_no_claim_to_extend(critical, ana):
    with pytest.raises(
        services.TransitionRefused, match="not claimed, so there is nothing to extend"
    ) as refusal:
        services.extend_claim(escalation_id=critical.pk, user=ana)
    assert refusal.value.code == "not_claimed"


def test_an_answer_ends_the_lease(critical, ana):
    claim(critical, ana, 2)
    with time_machine.travel(at(5), tick=False):
        services.respond(escalation_id=critical.pk, user=ana, guidance="Refund it.")

    sweep(60)

    critical.refresh_from_db()
    assert (critical.status, critical.claim_expires_at) == (Status.RESOLVED, None)
    assert releases(critical) == []


def test_a_release_ends_the_lease(critical, ana):
    claim(critical, ana, 2)
    with time_machine.travel(at(5), tick=False):
        services.release(escalation_id=critical.pk, user=ana)

    sweep(30)

    assert [payload["reason"] for payload in releases(critical)] == ["released"]


# --- The console and the API ---------------------------------------------------------------


def test_the_console_extend_button_extends_the_claim(client, critical, ana):
    claim(critical, ana, 2)
    client.force_login(ana)

    with time_machine.travel(at(10), tick=False):
        response = client.post(f"/console/escalations/{critical.pk}/extend/", follow=True)

    assert [str(message) for message in response.context["messages"]] == ["Claim extended."]
    assert Escalation.objects.get(pk=critical.pk).claim_expires_at == at(25)


def test_the_console_shows_why_someone_else_cannot_extend(client, critical, ana, bob):
    claim(critical, ana, 2)
    client.force_login(bob)

    response = client.post(f"/console/escalations/{critical.pk}/extend/", follow=True)

    assert [str(message) for message in response.context["messages"]] == [
        "Only ana, who claimed it, can extend the claim."
    ]
    assert response.context["can_extend"] is False


def test_the_console_extend_is_post_only(client, critical, ana):
    client.force_login(ana)

    assert client.get(f"/console/escalations/{critical.pk}/extend/").status_code == 405


def test_the_api_extends_the_claim(critical, ana, bob):
    claim(critical, ana, 2)
    _, token = user_token_create(user=ana)

    with time_machine.travel(at(10), tick=False):
        response = token_client(token).post(f"/api/v1/escalations/{critical.pk}/extend/", format="json")

    assert response.status_code == 200
    assert response.json()["claim_expires_at"] == at(25).isoformat()


def test_the_api_refuses_another_supervisors_extend_and_an_unclaimed_one(critical, ana, bob):
    _, token = user_token_create(user=bob)
    api = token_client(token)

    unclaimed = api.post(f"/api/v1/escalations/{critical.pk}/extend/", format="json")
    claim(critical, ana, 2)
    not_theirs = api.post(f"/api/v1/escalations/{critical.pk}/extend/", format="json")

    assert (unclaimed.status_code, unclaimed.json()["error"]["code"]) == (409, "not_claimed")
    assert (not_theirs.status_code, not_theirs.json()["error"]["code"]) == (403, "forbidden")
