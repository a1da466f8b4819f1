"""The examples run against daphne in its own process, on the test database, as an integrator runs them.

Billing has the agent "Refund Desk Bot" (a refund rule with a $100 limit and its
API key) and the supervisor ana (a team owner, with a user token), who answers.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from django.conf import settings

from escalations.models import Escalation
from supervisors.models import Role
from tests import factories
from tests.live_server import running_celery, running_daphne, running_redis
from tests.waiting import wait_until

WITHIN = 60  # seconds: generous, the machine may be busy with other test runs


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """One daphne for a module's tests: it serves whatever each test commits."""
    with running_daphne(tmp_path_factory.mktemp("daphne")) as base:
        yield base


@dataclass
class Billing:
    team: object
    agent: object
    agent_key: str
    supervisor_token: str
    base: str

    def as_supervisor(self, method: str, path: str, **kwargs) -> requests.Response:
        """ana calls the API, as the console's owner of the team would."""
        headers = {"Authorization": f"Token {self.supervisor_token}"}
        return requests.request(method, f"{self.base}/api/v1{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def billing_parties(transactional_db) -> Billing:
    """Billing's people and agent, committed; `base` (the server) is still to be set."""
    # ana is an owner: the webhook example adds an endpoint, which takes a contributor or owner.
    team, agent, key, token = factories.make_refund_desk(Role.OWNER)
    return Billing(team, agent, key, token, base="")


@pytest.fixture
def billing(billing_parties, server) -> Billing:
    return dataclasses.replace(billing_parties, base=server)


# The webhook sender refuses loopback addresses unless told: the test receivers are on loopback.
LOOPBACK = {"WEBHOOKS_ALLOW_LOOPBACK": "true"}


@pytest.fixture
def stack(tmp_path, billing_parties) -> Billing:
    """Its own Redis, daphne and a Celery worker (with beat), all allowed to call a loopback receiver."""
    with (
        running_redis(tmp_path) as redis_url,
        running_daphne(tmp_path, redis_url, **LOOPBACK) as base,
        running_celery(tmp_path, redis_url, **LOOPBACK),
    ):
        yield dataclasses.replace(billing_parties, base=base)


def wait_for(condition: Callable[[], object], what: str, within: float = WITHIN):
    """Poll until condition() is truthy; returns its value (tests/waiting.py, with this suite's time)."""
    return wait_until(condition, timeout=within, interval=0.1, message=what)


def open_escalation_of(agent) -> Escalation | None:
    return Escalation.objects.filter(agent=agent, status="open").first()


def example_env(billing: Billing) -> dict[str, str]:
    """The environment of an example run as a program: the server's address and the agent's key, and
    the client package importable from its source, as `pip install ./clients/python` makes it."""
    client_src = str(settings.BASE_DIR / "clients" / "python" / "src")
    python_path = os.pathsep.join(filter(None, [client_src, os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "ESCALATION_API_URL": billing.base,
        "ESCALATION_AGENT_KEY": billing.agent_key,
    }


def escalation_of_running(program: subprocess.Popen, agent) -> Escalation:
    """The agent's open escalation, once the running program opened it; fails at once if it exited."""

    def opened() -> Escalation | None:
        if program.poll() is not None:
            raise AssertionError(f"the program exited ({program.returncode}):\n{program.stderr.read()}")
        return open_escalation_of(agent)

    return wait_for(opened, "the program's escalation")
