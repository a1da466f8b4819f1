"""The client against a real daphne on the test database (tests/examples/conftest.py's server and parties).

Billing's "Refund Desk Bot" is the client's agent; its supervisor ana answers over the API.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from escalation_console import Client

from tests.examples.conftest import WITHIN, billing, billing_parties, server, wait_for  # noqa: F401


@pytest.fixture
def client(billing):  # noqa: F811
    with Client(billing.base, billing.agent_key, timeout=30) as client:
        yield client


def answered_while_waiting(wait: Callable[[], Any], answer: Callable[[], object]) -> Any:
    """Start `wait` (the agent's blocking call) in a thread, answer as the supervisor, return wait's value."""
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait)
        answer()
        return waiting.result(timeout=WITHIN)


def respond(billing, escalation_id: int, guidance: str) -> None:  # noqa: F811
    answered = billing.as_supervisor(
        "POST", f"/escalations/{escalation_id}/respond/", json={"guidance": guidance}
    )
    assert answered.status_code == 200, answered.text


def dismiss(billing, escalation_id: int, note: str) -> None:  # noqa: F811
    dismissed = billing.as_supervisor("POST", f"/escalations/{escalation_id}/dismiss/", json={"note": note})
    assert dismissed.status_code == 200, dismissed.text
