"""The soak test's end-of-run checks (bench/soak.py) must fail on what they are there to catch.

Plain functions over rows and receiver records: the soak itself runs them on a live stack.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import soak  # noqa: E402 (bench/ is not a package)


def event(escalation_id: int, event_id: int, event_type: str, status: str, claimed_by: str | None = None):
    return (escalation_id, event_id, event_type, {"escalation": {"status": status, "claimed_by": claimed_by}})


LIFE = [
    event(1, 10, "escalation.created", "open"),
    event(1, 11, "escalation.claimed", "claimed", "ana"),
    event(1, 12, "escalation.released", "open"),
    event(1, 13, "escalation.sla_breached", "open"),
    event(1, 14, "escalation.claimed", "claimed", "bob"),
]


def test_a_consistent_history_has_no_problems():
    assert soak.replay_problems([(1, "claimed", "bob")], LIFE) == []
    closed = [*LIFE, event(1, 15, "escalation.resolved", "resolved", "bob")]
    assert soak.replay_problems([(1, "resolved", "bob")], closed) == []


def test_two_answers_to_one_escalation_are_caught():
    twice = [
        event(1, 10, "escalation.created", "open"),
        event(1, 11, "escalation.resolved", "resolved"),
        event(1, 12, "escalation.dismissed", "dismissed"),
    ]
    assert soak.replay_problems([(1, "dismissed", None)], twice) == [
        "escalation 1: event 12 escalation.dismissed after resolved"
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ((1, "open", None), "escalation 1: the row says open, its events say claimed"),
        ((1, "claimed", "ana"), "escalation 1: claimed by ana, its events say bob"),
    ],
)
def test_a_row_that_disagrees_with_its_events_is_caught(row, expected):
    assert soak.replay_problems([row], LIFE) == [expected]


def test_an_event_whose_payload_disagrees_with_the_replay_is_caught():
    events = [event(1, 10, "escalation.created", "open"), event(1, 11, "escalation.claimed", "open")]
    assert soak.replay_problems([(1, "claimed", None)], events) == [
        "escalation 1: event 11 escalation.claimed carries status open, the replay says claimed"
    ]


def received(webhook_id: str, status: int, at: float, verified: bool = True) -> dict:
    return {"webhook_id": webhook_id, "status": status, "at": at, "verified": verified}


def delivery(webhook_id: str, status: str, attempts: list[int], next_attempt_at: float | None = None):
    return {
        "webhook_id": webhook_id,
        "status": status,
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
    }


def test_delivered_and_scheduled_deliveries_seen_at_the_receiver_pass():
    deliveries = [delivery("msg_a", "succeeded", [500, 204]), delivery("msg_b", "retrying", [500], 99.0)]
    seen = [received("msg_a", 500, 1.0), received("msg_b", 500, 1.5), received("msg_a", 204, 6.0)]
    assert soak.webhook_problems(deliveries, seen) == []


def test_a_retry_under_another_webhook_id_is_caught():
    deliveries = [delivery("msg_a", "succeeded", [500, 204])]
    seen = [received("msg_a", 500, 1.0), received("msg_other", 204, 6.0)]
    assert soak.webhook_problems(deliveries, seen) == [
        "msg_a: attempts recorded [500, 204], the receiver saw [500]",
        "the receiver got 1 webhook-id(s) of no delivery: ['msg_other']",
    ]


def test_lost_unsigned_and_stuck_deliveries_are_caught():
    deliveries = [
        delivery("msg_a", "succeeded", [204]),
        delivery("msg_b", "succeeded", [204]),
        delivery("msg_c", "pending", []),
        delivery("msg_d", "retrying", [500]),
    ]
    seen = [received("msg_b", 204, 1.0, verified=False), received("msg_d", 500, 1.0)]
    assert soak.webhook_problems(deliveries, seen) == [
        "msg_a: attempts recorded [204], the receiver saw []",
        "msg_b: 1 request(s) with a signature that did not verify",
        "msg_c: pending after 0 attempt(s)",
        "msg_d: retrying with no next attempt",
    ]


def test_memory_growth_past_the_threshold_after_the_warm_up_is_a_leak():
    mib = 2**20
    # (monotonic seconds, RSS per process, CPU): warm-up is a third of a 90 s run, so the 30 s sample.
    samples = [
        (0.0, {"worker": 40 * mib, "daphne": 100 * mib}, {}),
        (30.0, {"worker": 120 * mib, "daphne": 120 * mib}, {}),
        (90.0, {"worker": 150 * mib, "daphne": 130 * mib}, {}),
    ]
    assert soak._memory_problems({"samples": samples, "seconds": 90.0}) == [
        "worker grew 30.0 MiB (120 → 150)"
    ]
