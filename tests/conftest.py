"""Shared fixtures: a Billing team with supervisors ana and bob, an owner olga, a contributor
cora, an outsider, its agent "Billing Bot", a conversation and an open escalation on it."""

import pytest
from django.core.cache import cache

from escalations.team_config import forget_team_config
from supervisors.models import Role
from tests import factories


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test its own caches: cached figures are keyed by event and team ids, which repeat."""
    cache.clear()
    forget_team_config()


@pytest.fixture
def team(db):
    return factories.make_team("Billing")


@pytest.fixture
def ana(team):
    user = factories.make_user("ana")
    factories.add_member(user, team, Role.SUPERVISOR)
    return user


@pytest.fixture
def bob(team):
    user = factories.make_user("bob")
    factories.add_member(user, team, Role.SUPERVISOR)
    return user


@pytest.fixture
def olga(team):
    """A team owner."""
    user = factories.make_user("olga")
    factories.add_member(user, team, Role.OWNER)
    return user


@pytest.fixture
def cora(team):
    """A team contributor: configures rules (and answers their learning suggestions)."""
    user = factories.make_user("cora")
    factories.add_member(user, team, Role.CONTRIBUTOR)
    return user


@pytest.fixture
def outsider(db):
    other = factories.make_team("Legal")
    user = factories.make_user("otto")
    factories.add_member(user, other, Role.OWNER)
    return user


@pytest.fixture
def agent(team):
    return factories.make_agent(team, "Billing Bot")


@pytest.fixture
def conversation(agent):
    return factories.make_conversation(agent, "chat-1")


@pytest.fixture
def escalation(conversation):
    return factories.open_escalation(conversation)
