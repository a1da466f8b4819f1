"""Console fixtures on top of tests/conftest.py: escalations built through the services, as in production."""

import pytest

from tests import factories


@pytest.fixture
def make_escalation():
    """A new conversation on `agent` with an open escalation; extra fields go to open_escalation."""

    def make(agent, *, external_id=None, channel=None, **extra):
        conversation = factories.make_conversation(agent, external_id)
        if channel:
            conversation.channel = channel
            conversation.save(update_fields=["channel"])
        return factories.open_escalation(conversation, **extra)

    return make


@pytest.fixture
def legal_agent(outsider):
    """An agent of otto's team (Legal), which ana and bob must never see."""
    return factories.make_agent(outsider.teams.get(), "Legal Bot")
