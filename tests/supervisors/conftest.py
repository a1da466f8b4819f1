"""Console socket helpers: a WebsocketCommunicator on the real ASGI app, logged in by session cookie."""

import uuid

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from escalation_project.asgi import application

SAME_ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def own_presence_keys(settings):
    """Each test its own presence sets: team ids repeat between tests and runs share the Redis."""
    settings.PRESENCE_KEY_PREFIX = f"test-{uuid.uuid4().hex}:presence"


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def console_socket(*, cookie: str | None = None, origin: str = SAME_ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/console/", headers=headers)
