"""Two teams, each with an agent (and its key) and a supervisor (and a token).

Billing is "ours"; Legal is the other team that must stay invisible.
"""

import uuid
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from agents.keys import agent_key_create
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories


@dataclass
class Side:
    team: object
    agent: object
    agent_key: str
    supervisor: object
    supervisor_token: str
    conversation: object


def make_side(name: str, agent_name: str, username: str) -> Side:
    team = factories.make_team(name)
    agent = factories.make_agent(team, agent_name)
    _, key = agent_key_create(agent=agent, name="test")
    supervisor = factories.make_user(username)
    factories.add_member(supervisor, team, Role.SUPERVISOR)
    _, token = user_token_create(user=supervisor)
    conversation = factories.make_conversation(agent, f"{username}-chat")
    return Side(team, agent, key, supervisor, token, conversation)


@pytest.fixture
def ours(db) -> Side:
    return make_side("Billing", "Billing Bot", "ana")


@pytest.fixture
def theirs(db) -> Side:
    return make_side("Legal", "Legal Bot", "otto")


def agent_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def agent_api(ours) -> APIClient:
    return agent_client(ours.agent_key)


@pytest.fixture
def supervisor_api(ours) -> APIClient:
    return token_client(ours.supervisor_token)


@pytest.fixture
def owner_api(ours) -> APIClient:
    """An owner of Billing (olga)."""
    owner = factories.make_user("olga")
    factories.add_member(owner, ours.team, Role.OWNER)
    _, token = user_token_create(user=owner)
    return token_client(token)


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    # Key and user ids repeat between tests (rolled back), so their counters would too.
    settings.API_THROTTLE_KEY_PREFIX = f"{settings.API_THROTTLE_KEY_PREFIX}:{uuid.uuid4().hex}"


@pytest.fixture
def cora(ours):
    """A contributor of ours: may change its agents, rules, rule tests and labels."""
    user = factories.make_user("cora")
    factories.add_member(user, ours.team, Role.CONTRIBUTOR)
    return user


@pytest.fixture
def contributor_api(cora) -> APIClient:
    _, token = user_token_create(user=cora)
    return token_client(token)
