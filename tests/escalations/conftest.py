import datetime as dt

import pytest
import time_machine

from escalations.models import UrgencyTarget
from tests import factories

# The timers' tests open a critical escalation at OPENED: high urgency, so with the
# built-in targets it is to be claimed within 15 minutes, answered within 60, a claim
# lasts 15 and reminders come every 15.
OPENED = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return OPENED + dt.timedelta(minutes=minutes)


@pytest.fixture
def critical(conversation):
    with time_machine.travel(OPENED, tick=False):
        return factories.open_escalation(conversation, severity="critical")


@pytest.fixture
def long_claims(db):
    """The built-in high-urgency targets, but claims that outlast the tests' sweeps."""
    UrgencyTarget.objects.create(
        team=None,
        urgency="high",
        response_minutes=15,
        resolution_minutes=60,
        claim_minutes=600,
        reminder_minutes=15,
    )
