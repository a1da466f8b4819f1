"""examples/webhook_receiver (the client's verify_webhook) getting real signed deliveries from Celery.

The agent opens an escalation over HTTP (daphne); the worker delivers the
escalation.created event to the receiver; a supervisor then asks for a
redelivery, which comes with the same webhook-id and is counted once.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
import requests
from standardwebhooks import Webhook

from examples.webhook_receiver.receiver import Inbox, Receiver
from tests.examples.conftest import wait_for
from tests.live_server import free_port
from webhooks.models import Delivery

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver_port():
    return free_port()


def start_receiver(port: int, secret: str, inbox_path: Path) -> tuple[Receiver, list[dict]]:
    handled: list[dict] = []
    receiver = Receiver(
        ("127.0.0.1", port), secret=secret, inbox=Inbox(str(inbox_path)), handle=handled.append
    )
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver, handled


def test_signed_deliveries_are_verified_stored_once_and_handled_once(stack, receiver_port, tmp_path):
    created = stack.as_supervisor(
        "POST",
        "/webhook-endpoints/",
        json={"team": stack.team.pk, "url": f"http://127.0.0.1:{receiver_port}/hooks"},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    receiver, handled = start_receiver(receiver_port, endpoint["secret"], tmp_path / "inbox.sqlite3")
    try:
        opened = requests.post(
            f"{stack.base}/api/v1/escalations/",
            json={"conversation": "chat-9", "reason": "Customer wants a manager", "severity": "critical"},
            headers={"Authorization": f"Bearer {stack.agent_key}"},
            timeout=30,
        )
        assert opened.status_code == 201, opened.text

        wait_for(lambda: handled, "the first delivery to be handled")
        delivery = Delivery.objects.get(endpoint_id=endpoint["id"])
        redelivered = stack.as_supervisor(
            "POST", f"/webhook-endpoints/{endpoint['id']}/deliveries/{delivery.pk}/redeliver/"
        )
        assert redelivered.status_code == 202, redelivered.text
        wait_for(lambda: receiver.counts["duplicate"] == 1, "the redelivery")
        # A forged request (signed with another secret) is refused and stored nowhere.
        forged_body = json.dumps({"type": "escalation.created", "timestamp": "", "data": {}})
        forged = requests.post(
            f"http://127.0.0.1:{receiver_port}/hooks",
            data=forged_body,
            headers=signed_headers("whsec_" + "A" * 32, "msg_forged", forged_body),
            timeout=10,
        )
    finally:
        receiver.shutdown()

    assert forged.status_code == 400
    assert receiver.counts == {"new": 1, "duplicate": 1, "refused": 1}
    [event] = handled
    assert event["type"] == "escalation.created"
    assert event["data"]["escalation"]["id"] == opened.json()["id"]
    inbox = Inbox(str(tmp_path / "inbox.sqlite3"))
    assert inbox.unhandled() == []
    delivery.refresh_from_db()
    # Two attempts, both answered with a 2xx: 204 for the new event, 200 for the duplicate.
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert [a.status_code for a in delivery.attempts.order_by("number")] == [204, 200]


def signed_headers(secret: str, webhook_id: str, body: str) -> dict[str, str]:
    now = dt.datetime.now(tz=dt.UTC)
    signature = Webhook(secret).sign(webhook_id, now, body)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
