"""Console fixtures: escalations built through the services, and websocket helpers on the real ASGI app."""

import uuid

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from escalation_project.asgi import application
from tests import factories

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


@pytest.fixture
def make_escalation():
    """A new conversation on `agent` with an open escalation; extra fields go to open_escalation."""

    def make(agent, *, external_id=None, channel=None, **extra):
        conversation = factories.make_conversation(agent, external_id)
        if channel:
            conversation.channel = channel
            conversation.save(update_fields=["channel"])
        return factories.open_escalation(conversation, **extra)

    return make


@pytest.fixture
def legal_agent(outsider):
    """An agent of otto's team (Legal), which ana and bob must never see."""
    return factories.make_agent(outsider.teams.get(), "Legal Bot")


def team_page_form(team, *, deleted_user_ids=(), **fields) -> dict:
    """The admin's team page as its browser form posts it: the team, its memberships as they are
    (those of `deleted_user_ids` ticked for deletion), no policy, no ladder; `fields` on top."""
    memberships = list(team.memberships.order_by("pk"))
    form = {
        "name": team.name,
        "slug": team.slug,
        "description": team.description,
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "policy-TOTAL_FORMS": "0",
        "policy-INITIAL_FORMS": "0",
        "ladder_levels-TOTAL_FORMS": "0",
        "ladder_levels-INITIAL_FORMS": "0",
    }
    for i, membership in enumerate(memberships):
        prefix = f"memberships-{i}-"
        form.update(
            {
                f"{prefix}id": membership.pk,
                f"{prefix}team": team.pk,
                f"{prefix}user": membership.user_id,
                f"{prefix}role": membership.role,
                f"{prefix}on_duty": "on" if membership.on_duty else "",
            }
        )
        if membership.user_id in deleted_user_ids:
            form[f"{prefix}DELETE"] = "on"
    form.update(fields)
    return form
