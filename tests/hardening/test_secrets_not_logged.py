"""No secret reaches a log: passwords, session ids, agent API keys, staff tokens, webhook secrets.

The flows that make, rotate and use them run with every logger at DEBUG and every record
captured; then the formatted messages, their arguments, tracebacks and any extra fields are
searched for each secret.
"""

import logging

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from tests import factories
from webhooks import services as webhook_services
from webhooks.models import Delivery, Endpoint

PASSWORD = "Correct-Horse-Battery-9"
WRONG_PASSWORD = "Wrong-Horse-Battery-7"


def shown_once(response) -> str:
    """The secret an admin message shows once (its last word)."""
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    return next(text for text in texts if "shown" in text).rsplit(" ", 1)[-1]


def everything_logged(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in records:
        parts.append(formatter.format(record))  # the message with its args, and any traceback
        parts.append(repr(record.args))
        parts.extend(f"{key}={value!r}" for key, value in vars(record).items())  # extra fields
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)  # the root: every logger without a level of its own
    for name in ("django", "django.request", "django.security", "axes", "webhooks", "celery", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_no_secret_is_logged_while_they_are_made_rotated_and_used(
    debug_logs, settings, httpserver, team, agent, conversation
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    httpserver.expect_request("/hook").respond_with_data("down", status=500)  # a failed delivery logs
    admin = factories.make_user("root", superuser=True)
    admin.set_password(PASSWORD)
    admin.save()
    secrets: dict[str, str] = {"password": PASSWORD, "wrong password": WRONG_PASSWORD}

    # A failed and a good login through the console's form; the session id it sets.
    browser = Client()
    assert (
        browser.post("/console/login/", {"username": "root", "password": WRONG_PASSWORD}).status_code == 200
    )
    assert browser.post("/console/login/", {"username": "root", "password": PASSWORD}).status_code == 302
    secrets["session id"] = browser.cookies[settings.SESSION_COOKIE_NAME].value

    # An agent API key and a staff token made in the admin, then used (and one misused).
    response = browser.post(
        "/admin/agents/agentapikey/add/", {"agent": agent.pk, "name": "worker"}, follow=True
    )
    secrets["agent key"] = shown_once(response)
    response = browser.post(
        "/admin/supervisors/usertoken/add/", {"user": admin.pk, "name": "cli"}, follow=True
    )
    secrets["staff token"] = shown_once(response)
    api = Client()
    assert (
        api.get("/api/v1/escalations/", HTTP_AUTHORIZATION=f"Bearer {secrets['agent key']}").status_code
        == 200
    )
    assert (
        api.get("/api/v1/escalations/", HTTP_AUTHORIZATION=f"Token {secrets['staff token']}").status_code
        == 200
    )
    refused = api.get("/api/v1/escalations/", HTTP_AUTHORIZATION=f"Bearer {secrets['agent key']}x")
    assert refused.status_code == 401

    # A webhook endpoint made in the admin, rotated there and over the API, then used to sign.
    response = browser.post(
        reverse("admin:webhooks_endpoint_add"),
        {"team": team.pk, "url": httpserver.url_for("/hook"), "active": "on"},
        follow=True,
    )
    endpoint = Endpoint.objects.get(team=team)
    secrets["webhook secret"] = shown_once(response)
    response = browser.post(
        reverse("admin:webhooks_endpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    secrets["rotated webhook secret"] = shown_once(response)
    rotated = api.post(
        f"/api/v1/webhook-endpoints/{endpoint.pk}/rotate-secret/",
        HTTP_AUTHORIZATION=f"Token {secrets['staff token']}",
    )
    assert rotated.status_code == 200, rotated.content
    secrets["webhook secret rotated over the API"] = rotated.json()["secret"]
    factories.open_escalation(conversation)  # its event makes a delivery to the endpoint
    for delivery in Delivery.objects.filter(endpoint=endpoint):
        webhook_services.delivery_attempt(delivery_id=delivery.pk)
    assert len(httpserver.log) == 1  # signed (with both current secrets) and refused with a 500

    assert all(len(secret) >= 16 for secret in secrets.values())
    logged = everything_logged(debug_logs.records)
    assert len(debug_logs.records) > 5  # the flows did log: logins, 401, the failed delivery ...
    for what, secret in secrets.items():
        assert secret not in logged, f"the {what} was logged"
