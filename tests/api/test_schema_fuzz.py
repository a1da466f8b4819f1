"""Schemathesis fuzzes every operation of /api/schema/ against the app, in process (WSGI).

For each operation it sends the schema's examples, the boundary values of
every parameter (its coverage phase) and random valid and invalid requests,
and checks every response: no 5xx, a status code the schema documents for the
operation, a body (and content type, and headers) that matches the documented
one, invalid input refused with a 4xx, valid input not refused as invalid.

Credentials are real: an agent key for the operations an agent calls, a user
token of a team owner (who may change everything of the team) for the rest.
Valid requests carry the ids of real objects in their path and real values
where validity depends on stored rows (tests/api/fuzz_hooks.py), so the
fuzzing reaches past the 404 into validation and the services; invalid ones
go as Schemathesis makes them. The same hooks and schemathesis.toml serve a
run against a live server (tests/api/fuzz_live.py).

The run is deterministic (derandomized) and bounded by MAX_EXAMPLES per
operation, so CI sees the same requests every time and stays within a couple
of minutes of CPU; raise it locally to search harder:
`FUZZ_MAX_EXAMPLES=500 make test PYTEST_ARGS=tests/api/test_schema_fuzz.py`.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.api.fuzz_hooks import WORLD  # also registers the hooks
from tests.api.fuzz_world import make_world

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

# The calls an agent makes with its key; every other operation is a person's (a user token).
AGENT_OPERATIONS = {
    ("GET", "/api/v1/escalations/"),
    ("POST", "/api/v1/escalations/"),
    ("GET", "/api/v1/escalations/{id}/"),
    ("POST", "/api/v1/escalations/{id}/withdraw/"),
    ("GET", "/api/v1/events/"),
    ("POST", "/api/v1/conversations/"),
    ("GET", "/api/v1/conversations/{id}/"),
    ("POST", "/api/v1/conversations/{id}/messages/"),
    ("POST", "/api/v1/agents/{agent_id}/evaluate/"),
}


@schema.auth(refresh_interval=None)
class Credentials:
    """The agent key or the owner's token, per operation; left out when Schemathesis tests a call
    without credentials (then a 401 is expected)."""

    def get(self, case, context) -> str:
        if (case.method.upper(), case.path) in AGENT_OPERATIONS:
            return f"Bearer {WORLD.agent_key}"
        return f"Token {WORLD.user_token}"

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture
def keep_connection():
    """The test's connection stays open between requests, as Django's test client keeps it.

    A WSGI handler closes the database connection when a request ends; here that
    connection holds the test's transaction (its data), so it must not be closed.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, settings, keep_connection):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    world = make_world()
    # The hooks read the module's WORLD: fill it in place.
    WORLD.__dict__.update(world.__dict__)
    return WORLD


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # `world` is made once per operation, on purpose
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_operation_answers_as_its_schema_says(case, world):
    # Every check, positive_data_acceptance ("a request the schema allows is accepted") too: the
    # schema states every rule of a request's shape (types, NUL, blank text, list sizes, exactly one
    # of conversation and conversation_id, the fields PATCH may not change), and fuzz_hooks puts real
    # values where validity depends on stored rows (a member's team, a label, a username).
    case.call_and_validate()
