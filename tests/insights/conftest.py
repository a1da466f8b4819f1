"""Hand-made escalations with figures known in advance (see EXPECTED in each test).

Billing: agent "Billing Bot" with rules "Refunds" (10 escalations, noisy) and
"Chargebacks" (9, all dismissed: too few to be called noisy), agent "Helper"
(1 tool call), agent "Quiet" (1 withdrawn); one more of Billing Bot 40 days
ago (outside 30 days); and Legal's escalations, which Billing must never see.
"""

import datetime as dt

import pytest
from django.utils import timezone

from escalations.models import Escalation, Origin, Status
from supervisors.models import Role
from tests import factories

MINUTE = dt.timedelta(minutes=1)


def closed(agent, conversation, *, created, rule=None, severity="warning", status=Status.RESOLVED,
           claim_after=None, answer_after=None, responder=None, needed=None,
           response_breached=False, resolution_breached=False):  # fmt: skip
    """One final escalation with these times, written directly: its figures are the test's point."""
    return Escalation.objects.create(
        agent=agent,
        team_id=agent.team_id,
        conversation=conversation,
        channel="chat",
        origin=Origin.RULE if rule else Origin.TOOL_CALL,
        rule=rule,
        reason="test",
        severity=severity,
        urgency="medium",
        status=status,
        claimed_at=created + claim_after if claim_after is not None else None,
        closed_at=created + answer_after if answer_after is not None else created + 30 * MINUTE,
        responder=responder,
        needed=needed,
        response_breached_at=created if response_breached else None,
        resolution_breached_at=created if resolution_breached else None,
    )


def backdate(escalations, created):
    # created_at is auto_now_add: set afterwards, as the data is meant to be.
    Escalation.objects.filter(pk__in=[e.pk for e in escalations]).update(created_at=created)


@pytest.fixture
def world(team, ana, bob, olga, outsider):
    now = timezone.now()
    day = (now - dt.timedelta(days=5)).replace(hour=10, minute=0, second=0, microsecond=0)
    bot = factories.make_agent(team, "Billing Bot")
    helper = factories.make_agent(team, "Helper")
    quiet = factories.make_agent(team, "Quiet")
    refunds = factories.make_rule(bot, name="Refunds")
    chargebacks = factories.make_rule(bot, name="Chargebacks", parameters={"phrases": ["chargeback"]})
    conversation = factories.make_conversation(bot, "closed-ones")
    made = []
    for k in range(1, 11):  # claim after 1..10 min, answered 10 min after the claim
        made.append(
            closed(
                bot, conversation, created=day, rule=refunds,
                status=Status.DISMISSED if k <= 6 else Status.RESOLVED,
                claim_after=k * MINUTE, answer_after=(k + 10) * MINUTE, responder=ana,
                needed=False if k == 7 else (True if k == 8 else None),
                response_breached=k <= 2, resolution_breached=k == 1,
            )
        )  # fmt: skip
    for _ in range(9):
        made.append(
            closed(bot, conversation, created=day, rule=chargebacks, severity="info",
                   status=Status.DISMISSED, responder=ana, answer_after=2 * MINUTE)
        )  # fmt: skip
    made.append(
        closed(helper, factories.make_conversation(helper), created=day, severity="critical",
               claim_after=MINUTE, answer_after=2 * MINUTE, responder=bob, needed=True)
    )  # fmt: skip
    made.append(closed(quiet, factories.make_conversation(quiet), created=day, status=Status.WITHDRAWN))
    backdate(made, day)
    old = closed(bot, conversation, created=now - dt.timedelta(days=40), rule=refunds, responder=ana,
                 status=Status.DISMISSED)  # fmt: skip
    backdate([old], now - dt.timedelta(days=40))

    legal_team = outsider.teams.get()
    legal_bot = factories.make_agent(legal_team, "Legal Bot")
    theirs = [
        closed(legal_bot, factories.make_conversation(legal_bot), created=day, responder=outsider)
        for _ in range(3)
    ]
    backdate(theirs, day)
    contributor = factories.make_user("cora")
    factories.add_member(contributor, team, Role.CONTRIBUTOR)
    return {
        "day": day,
        "bot": bot,
        "helper": helper,
        "quiet": quiet,
        "refunds": refunds,
        "chargebacks": chargebacks,
        "legal_bot": legal_bot,
        "contributor": contributor,
    }
