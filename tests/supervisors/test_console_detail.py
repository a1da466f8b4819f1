import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from agents.models import Message
from escalations import services
from escalations.models import Escalation, Event, Origin, Status
from tests import factories

T0 = dt.datetime(2026, 3, 2, 14, 2, tzinfo=dt.UTC)


def detail_url(escalation) -> str:
    return reverse("console:detail", args=[escalation.pk])


def action_url(verb: str, escalation) -> str:
    return reverse(f"console:{verb}", args=[escalation.pk])


def flash(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def fresh(escalation) -> Escalation:
    return Escalation.objects.get(pk=escalation.pk)


# --- The page ------------------------------------------------------------------------------


@pytest.fixture
def rule_escalation(agent):
    """An escalation opened by a rule, with evidence that points at a span of the second message."""
    conversation = factories.make_conversation(agent, "chat-42")
    Message.objects.create(conversation=conversation, role="agent", content="How can I help you today?")
    message = Message.objects.create(
        conversation=conversation, role="user", content="Please refund the $150 charge now"
    )
    Message.objects.create(conversation=conversation, role="agent", content="Let me check with a colleague.")
    rule = factories.make_rule(agent)
    start = message.content.index("refund")
    return services.open_escalation(
        conversation=conversation,
        origin=Origin.RULE,
        reason="Customer asked for a refund",
        severity="critical",
        rule=rule,
        evidence=[
            {
                "source": "rule",
                "rule_id": rule.pk,
                "rule_name": rule.name,
                "text": "refund",
                "start": start,
                "end": start + len("refund"),
                "message_id": message.pk,
            }
        ],
    ).escalation


def test_the_page_shows_the_thread_the_card_the_agent_and_the_timeline(client, ana, rule_escalation):
    client.force_login(ana)

    response = client.get(detail_url(rule_escalation))

    page = response.content.decode()
    assert response.status_code == 200
    assert [item.message.role for item in response.context["thread"]] == ["user", "agent", "user", "agent"]
    assert 'class="msg msg-user"' in page and 'class="msg msg-agent"' in page
    assert "Agent needs help" in page
    assert "Customer asked for a refund" in page
    assert "Rule <strong>Refunds</strong>" in page
    assert 'Please <mark class="evidence">refund</mark> the $150 charge now' in page
    assert "Answers billing questions; hands refunds over $100 to a human." in page  # the agent's description
    assert "Opened by agent billing-bot: Customer asked for a refund" in page  # the timeline


def test_the_card_sits_after_the_message_that_triggered_it(client, ana, rule_escalation):
    client.force_login(ana)

    thread = client.get(detail_url(rule_escalation)).context["thread"]

    assert [item.escalated_here for item in thread] == [False, False, True, False]


def test_evidence_without_offsets_highlights_its_text(client, ana, agent):
    conversation = factories.make_conversation(agent)  # its message: "I want my money back"
    message = conversation.messages.get()
    escalation = factories.open_escalation(
        conversation, evidence=[{"source": "tool_call", "text": "money back", "message_id": message.pk}]
    )
    client.force_login(ana)

    page = client.get(detail_url(escalation)).content.decode()

    assert 'I want my <mark class="evidence">money back</mark>' in page


def test_the_timeline_says_who_did_what(client, ana, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    services.respond(escalation_id=escalation.pk, user=ana, guidance="Refund it", reason="")
    client.force_login(ana)

    timeline = client.get(detail_url(escalation)).context["timeline"]

    assert [(entry["who"], entry["what"], entry["status"]) for entry in timeline] == [
        ("agent Billing Bot", "Opened by agent billing-bot: Customer wants a refund of $150", "open"),
        ("ana", "Claimed", "claimed"),
        ("ana", "Responded with guidance", "resolved"),
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, escalation):
    response = client.get(detail_url(escalation))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


@pytest.mark.parametrize("verb", ["claim", "release", "respond", "dismiss"])
def test_an_anonymous_post_writes_nothing(client, escalation, verb):
    response = client.post(action_url(verb, escalation), {"guidance": "x"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))
    assert fresh(escalation).status == Status.OPEN


# --- Another team ------------------------------------------------------------------------------


def test_another_teams_escalation_is_not_found(client, outsider, escalation):
    client.force_login(outsider)

    assert client.get(detail_url(escalation)).status_code == 404


@pytest.mark.parametrize("verb", ["claim", "release", "respond", "dismiss"])
def test_an_action_on_another_teams_escalation_is_not_found(client, outsider, ana, escalation, verb):
    services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(outsider)

    response = client.post(action_url(verb, escalation), {"guidance": "Do it", "note": "no"})

    assert response.status_code == 404
    after = fresh(escalation)
    assert (after.status, after.claimed_by) == (Status.CLAIMED, ana)


def test_an_unknown_id_is_not_found(client, ana, db):
    client.force_login(ana)

    assert client.get(reverse("console:detail", args=[999_999])).status_code == 404


def test_a_superuser_may_open_any_teams_escalation(client, escalation):
    client.force_login(factories.make_user("root", superuser=True))

    assert client.get(detail_url(escalation)).status_code == 200


# --- Buttons by state ------------------------------------------------------------------------------


def test_an_open_escalation_offers_claim_respond_and_dismiss(client, ana, escalation):
    client.force_login(ana)

    page = client.get(detail_url(escalation)).content.decode()

    assert action_url("claim", escalation) in page
    assert action_url("release", escalation) not in page
    assert action_url("respond", escalation) in page
    assert action_url("dismiss", escalation) in page


def test_the_claimer_may_release_respond_and_dismiss(client, ana, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(ana)

    page = client.get(detail_url(escalation)).content.decode()

    assert action_url("claim", escalation) not in page
    assert action_url("release", escalation) in page
    assert action_url("respond", escalation) in page


def test_someone_elses_claim_leaves_no_buttons_but_says_why(client, ana, bob, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(bob)

    page = client.get(detail_url(escalation)).content.decode()

    for verb in ["claim", "release", "respond", "dismiss"]:
        assert action_url(verb, escalation) not in page
    assert "Claimed by ana: only they or a team owner can answer it." in page


def test_a_team_owner_may_answer_or_release_anyones_claim(client, ana, olga, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(olga)

    page = client.get(detail_url(escalation)).content.decode()

    assert action_url("release", escalation) in page
    assert action_url("respond", escalation) in page


def test_a_closed_escalation_has_no_buttons_and_shows_the_answer(client, ana, escalation):
    services.respond(escalation_id=escalation.pk, user=ana, guidance="Refund the $150.")
    client.force_login(ana)

    page = client.get(detail_url(escalation)).content.decode()

    for verb in ["claim", "release", "respond", "dismiss"]:
        assert action_url(verb, escalation) not in page
    assert "This escalation is resolved by ana" in page
    assert "Refund the $150." in page


def card(page: str) -> str:
    """The thread's card, its whitespace squeezed."""
    start = page.rindex('<div class="card', 0, page.index('id="escalation-card"'))
    return " ".join(page[start : page.index('<aside class="side">', start)].split())


@pytest.mark.parametrize(
    "close, ended",
    [
        (
            lambda e, ana, agent: services.respond(escalation_id=e.pk, user=ana, guidance="Refund it."),
            "<strong>Resumed with guidance</strong> by ana ·",
        ),
        (
            lambda e, ana, agent: services.dismiss(escalation_id=e.pk, user=ana),
            "<strong>Dismissed: the agent proceeded on its own</strong> by ana ·",
        ),
        (
            lambda e, ana, agent: services.withdraw(escalation_id=e.pk, agent=agent, reason="User left"),
            "<strong>Withdrawn by the agent</strong> ·",
        ),
    ],
    ids=["resolved", "dismissed", "withdrawn"],
)
def test_the_threads_card_shows_how_it_ended_who_and_when(client, ana, agent, escalation, close, ended):
    """It stayed red after the answer, as if the agent still waited."""
    client.force_login(ana)
    before = card(client.get(detail_url(escalation)).content.decode())
    assert "Agent needs help" in before and "card-closed" not in before
    with time_machine.travel(T0, tick=False):
        close(escalation, ana, agent)
    client.cookies["tz"] = "Europe%2FBerlin"

    shown = card(client.get(detail_url(escalation)).content.decode())

    assert "Agent asked for help" in shown and "card-closed" in shown
    assert ended in shown
    assert ">2026-03-02 15:02 CET</time>" in shown  # the console's format, in the viewer's zone


# --- Actions: success -------------------------------------------------------------------------------


def test_claim_redirects_back_and_says_so(client, ana, escalation):
    client.force_login(ana)

    response = client.post(action_url("claim", escalation), follow=True)

    assert response.redirect_chain == [(detail_url(escalation), 302)]
    assert flash(response) == ["You claimed this escalation."]
    after = fresh(escalation)
    assert (after.status, after.claimed_by) == (Status.CLAIMED, ana)


def test_release_puts_it_back_in_the_queue(client, ana, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(ana)

    response = client.post(action_url("release", escalation), follow=True)

    assert flash(response) == ["Released: it is back in the queue."]
    after = fresh(escalation)
    assert (after.status, after.claimed_by) == (Status.OPEN, None)


def test_respond_resolves_with_the_guidance(client, ana, escalation):
    client.force_login(ana)

    response = client.post(action_url("respond", escalation), {"guidance": "Refund the $150."}, follow=True)

    assert flash(response) == ["Sent: the agent resumes with your guidance."]
    after = fresh(escalation)
    assert (after.status, after.responder, after.guidance) == (Status.RESOLVED, ana, "Refund the $150.")


def test_dismiss_with_a_note(client, ana, escalation):
    client.force_login(ana)

    response = client.post(action_url("dismiss", escalation), {"note": "Duplicate of #12"}, follow=True)

    assert flash(response) == ["Dismissed: the agent proceeds on its own."]
    after = fresh(escalation)
    assert (after.status, after.responder, after.closing_note) == (Status.DISMISSED, ana, "Duplicate of #12")
    assert "Duplicate of #12" in response.content.decode()


def test_dismiss_without_a_note(client, ana, escalation):
    client.force_login(ana)

    client.post(action_url("dismiss", escalation))

    assert fresh(escalation).status == Status.DISMISSED


# --- Actions: refusals -------------------------------------------------------------------------------


def test_a_second_claim_is_told_who_claimed_it(client, ana, bob, escalation):
    client.force_login(ana)
    bobs_browser = Client()
    bobs_browser.force_login(bob)
    with time_machine.travel(T0, tick=False):
        client.post(action_url("claim", escalation))

        response = bobs_browser.post(action_url("claim", escalation), follow=True)

    assert response.status_code == 200
    assert flash(response) == ["Already claimed by ana at 14:02 UTC."]
    assert "Already claimed by ana at 14:02 UTC." in response.content.decode()
    assert fresh(escalation).claimed_by == ana


def test_responding_after_someone_else_responded_says_who_and_when(client, ana, bob, escalation):
    client.force_login(ana)
    bobs_browser = Client()
    bobs_browser.force_login(bob)
    with time_machine.travel(T0, tick=False):
        client.post(action_url("respond", escalation), {"guidance": "Refund it."})

        response = bobs_browser.post(
            action_url("respond", escalation), {"guidance": "Refuse it."}, follow=True
        )

    assert flash(response) == ["This escalation is already resolved by ana at 14:02 UTC."]
    after = fresh(escalation)
    assert (after.responder, after.guidance) == (ana, "Refund it.")


def test_empty_guidance_shows_a_field_error_and_writes_nothing(client, ana, escalation):
    client.force_login(ana)
    history_before = escalation.history.count()

    response = client.post(action_url("respond", escalation), {"guidance": "   "})

    assert response.status_code == 400
    assert "Write the guidance the agent should continue with." in response.content.decode()
    assert response.context["respond_form"].errors
    assert fresh(escalation).status == Status.OPEN
    assert escalation.history.count() == history_before
    assert escalation.events.count() == 1  # only "created"


def test_release_by_someone_who_did_not_claim_it_is_refused(client, ana, bob, escalation):
    services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(bob)

    response = client.post(action_url("release", escalation), follow=True)

    assert flash(response) == ["Only ana, who claimed it, or a team owner can release it."]
    assert fresh(escalation).claimed_by == ana


def test_releasing_an_unclaimed_escalation_is_refused_plainly(client, ana, escalation):
    client.force_login(ana)

    response = client.post(action_url("release", escalation), follow=True)

    assert flash(response) == ["This escalation is not claimed, so there is nothing to release."]


def test_dismissing_someone_elses_claim_is_refused(client, ana, bob, escalation):
    with time_machine.travel(T0, tick=False):
        services.claim(escalation_id=escalation.pk, user=ana)
        client.force_login(bob)

        response = client.post(action_url("dismiss", escalation), {"note": "nah"}, follow=True)

    assert flash(response) == ["Claimed by ana at 14:02 UTC: only they or a team owner can answer it."]
    assert fresh(escalation).status == Status.CLAIMED


def test_an_action_on_a_withdrawn_escalation_names_the_agent(client, ana, agent, escalation):
    services.withdraw(escalation_id=escalation.pk, agent=agent, reason="User left")
    client.force_login(ana)

    response = client.post(action_url("claim", escalation), follow=True)

    assert flash(response)[0].startswith("This escalation is already withdrawn by the agent Billing Bot at ")


def test_actions_only_accept_post(client, ana, escalation):
    client.force_login(ana)

    assert client.get(action_url("claim", escalation)).status_code == 405
    assert fresh(escalation).status == Status.OPEN


def test_a_long_conversation_shows_its_newest_messages(client, ana, conversation, monkeypatch):
    monkeypatch.setattr("supervisors.views.THREAD_LIMIT", 3)
    for n in range(5):
        Message.objects.create(conversation=conversation, role="user", content=f"message {n}")
    escalation = factories.open_escalation(conversation)
    client.force_login(ana)

    response = client.get(detail_url(escalation))

    shown = [item.message.content for item in response.context["thread"]]
    assert shown == ["message 2", "message 3", "message 4"]
    assert "Older messages are not shown" in response.content.decode()


def test_an_action_without_the_csrf_token_is_refused(ana, escalation):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(ana)

    response = browser.post(action_url("claim", escalation))

    assert response.status_code == 403
    assert fresh(escalation).status == Status.OPEN


def test_the_page_carries_its_escalation_and_newest_event_for_live_updates(client, ana, escalation):
    client.force_login(ana)

    page = client.get(detail_url(escalation)).content.decode()

    last_id = Event.objects.filter(escalation=escalation).get().pk
    assert f'data-last-event-id="{last_id}" data-user-name="ana" data-escalation-id="{escalation.pk}"' in page
    for region in ("escalation-head", "escalation-thread", "escalation-actions", "escalation-timeline"):
        assert f'id="{region}" data-live-region' in page
