"""The client against a real daphne on the test database (tests/examples/conftest.py's server and parties).

Billing's "Refund Desk Bot" is the client's agent; its supervisor ana answers over the API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from escalation_console import Client

from tests.examples.conftest import WITHIN, billing, billing_parties, server, stack, wait_for  # noqa: F401


@pytest.fixture
def client(billing):  # noqa: F811
    with Client(billing.base, billing.agent_key, timeout=30) as client:
        yield client


def answered_while_waiting(wait: Callable[[], Any], answer: Callable[[], object]) -> Any:
    """Start `wait` (the agent's blocking call) in a thread, answer as the supervisor, return wait's value.

    A daemon thread, not an executor: if `answer` fails, the still-blocked wait must not hang the run.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = wait()
        except BaseException as error:  # re-raised in the test's thread below
            outcome["error"] = error

    waiting = threading.Thread(target=run, daemon=True)
    waiting.start()
    answer()
    waiting.join(WITHIN)
    assert not waiting.is_alive(), f"the wait did not return within {WITHIN} s of the answer"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def respond(billing, escalation_id: int, guidance: str) -> None:  # noqa: F811
    answered = billing.as_supervisor(
        "POST", f"/escalations/{escalation_id}/respond/", json={"guidance": guidance}
    )
    assert answered.status_code == 200, answered.text


def dismiss(billing, escalation_id: int, note: str) -> None:  # noqa: F811
    dismissed = billing.as_supervisor("POST", f"/escalations/{escalation_id}/dismiss/", json={"note": note})
    assert dismissed.status_code == 200, dismissed.text
