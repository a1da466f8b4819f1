"""A real local receiver (pytest-httpserver on 127.0.0.1), loopback allowed for it, and endpoints.

The API fixtures (two teams, tokens, a contributor) come from tests/api/conftest.py.
"""

import datetime as dt

import pytest
import time_machine
from standardwebhooks import Webhook

from tests import factories
from tests.api.conftest import (  # noqa: F401 (fixtures)
    contributor_api,
    cora,
    fresh_rate_limits,
    ours,
    supervisor_api,
    theirs,
)
from webhooks import services
from webhooks.models import Delivery

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    """Time stands at NOW until the test moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(scope="session")
def httpserver_listen_address():
    # An IPv4 literal: "localhost" may resolve to ::1 first while the server listens on IPv4.
    return ("127.0.0.1", 0)


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


@pytest.fixture
def receiver(httpserver, loopback_allowed):
    return httpserver


@pytest.fixture
def hook_endpoint(receiver, team):
    return services.endpoint_create(team=team, url=receiver.url_for("/hook"))


def verify(secret: str, request) -> dict:
    """Raises standardwebhooks.WebhookVerificationError unless the request is signed with secret."""
    return Webhook(secret).verify(request.get_data(), dict(request.headers))


def deliveries_of(endpoint) -> list[Delivery]:
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("id"))


def open_escalation(team):
    agent = factories.make_agent(team)
    return factories.open_escalation(factories.make_conversation(agent))
