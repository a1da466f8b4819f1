import contextlib
import datetime as dt
import uuid
from unittest import mock

import pytest
import time_machine

from escalations import timers
from escalations.models import UrgencyTarget
from escalations.tasks import send_event_emails
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


@pytest.fixture(autouse=True)
def own_presence_keys(settings):
    """Each test its own presence sets: team ids repeat between tests and runs share the Redis."""
    settings.PRESENCE_KEY_PREFIX = f"test-{uuid.uuid4().hex}:presence"


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """A block whose commit hooks run at its end, the email tasks sending at once (not via the broker)."""

    @contextlib.contextmanager
    def block():
        with (
            mock.patch.object(send_event_emails, "delay", lambda items: send_event_emails.apply([items])),
            django_capture_on_commit_callbacks(execute=True),
        ):
            yield

    return block


@pytest.fixture
def sweep(committed):
    """Sweep at `minutes` after opening, its commit hooks run and the email task sending at once.

    For the timer tests that follow the emails (reminders, the ladder); the others sweep
    without commit hooks, through their own module's sweep(minutes)."""

    def run(minutes: float):
        with time_machine.travel(at(minutes), tick=False), committed():
            return timers.sweep()

    return run
