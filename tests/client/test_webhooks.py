"""verify_webhook on a real delivery: daphne, a Celery worker and Redis sign and send it to a receiver."""

from __future__ import annotations

import pytest
from escalation_console import Client, WebhookVerificationError, verify_webhook

from tests.client.conftest import wait_for

pytestmark = pytest.mark.slow


def test_verify_webhook_accepts_a_real_delivery_and_refuses_a_tampered_one(stack, httpserver):
    httpserver.expect_request("/hooks", method="POST").respond_with_data("", status=204)
    created = stack.as_supervisor(
        "POST", "/webhook-endpoints/", json={"team": stack.team.pk, "url": httpserver.url_for("/hooks")}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]

    with Client(stack.base, stack.agent_key, timeout=30) as client:
        escalation = client.escalate("Customer wants a manager", "critical", conversation="hook-1")
    request, _ = wait_for(lambda: httpserver.log[0] if httpserver.log else None, "the delivery")
    body, headers = request.get_data(), dict(request.headers)

    payload = verify_webhook(body, headers, secret)

    assert payload["type"] == "escalation.created"
    assert payload["data"]["escalation"]["id"] == escalation.id
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body.replace(b"manager", b"refund!"), headers, secret)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, "whsec_" + "A" * 32)
    with pytest.raises(WebhookVerificationError):  # a replay, ten minutes later
        verify_webhook(body, headers, secret, now=int(headers["Webhook-Timestamp"]) + 600)
