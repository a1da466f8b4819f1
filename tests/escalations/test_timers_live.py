"""End to end: a real Celery worker and beat sweep the timers, and a console socket on daphne sees it live.

Nothing is faked: beat sends the sweep every second, the worker breaches,
reminds and climbs the ladder through the services, commits, publishes to
the channel layer and sends the emails (to files), and a websocket client
logged in as a supervisor receives the events from daphne.
"""

from __future__ import annotations

import datetime as dt
import email
import json
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone
from websockets.sync.client import connect

from escalations.models import LadderLevel
from supervisors.models import Role
from tests import factories
from tests.live_server import running_celery, running_daphne, running_redis
from tests.waiting import wait_until

# Seconds: beat ticks every second, so everything due should be done within a few.
WITHIN = 20
EMAIL_SEPARATOR = "\n" + "-" * 79 + "\n"


def subjects(folder: Path) -> list[str]:
    found = []
    for path in folder.glob("*.log"):
        for chunk in path.read_text().split(EMAIL_SEPARATOR):
            if chunk.strip():
                found.append(" ".join(email.message_from_string(chunk)["Subject"].split()))
    return found


@pytest.fixture
def private_redis(tmp_path):
    with running_redis(tmp_path) as url:
        yield url


@pytest.mark.slow
def test_an_unclaimed_escalation_is_breached_reminded_and_escalated_live(
    transactional_db, tmp_path, private_redis
):
    team = factories.make_team("Billing")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    LadderLevel.objects.create(team=team, number=1, after_minutes=1)
    LadderLevel.objects.create(team=team, number=2, after_minutes=60)
    conversation = factories.make_conversation(factories.make_agent(team, "Billing Bot"))
    browser = Client()
    browser.force_login(ana)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    mails = tmp_path / "emails"
    workers = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mails),
        "TIMER_SWEEP_SECONDS": "1",
    }

    with (
        running_daphne(tmp_path, private_redis) as base,
        connect(
            base.replace("http://", "ws://") + "/ws/console/",
            origin=base,
            additional_headers={"Cookie": cookie},
        ) as socket,
        running_celery(tmp_path, private_redis, **workers),
    ):
        # Opened 20 minutes ago (high urgency: to be claimed within 15), so the first sweep finds it
        # past its response target, due a reminder, and due level 1 of the ladder.
        with time_machine.travel(timezone.now() - dt.timedelta(minutes=20), tick=False):
            escalation = factories.open_escalation(conversation, severity="warning", urgency="high")
        live: dict[str, dict] = {}
        wanted = {"escalation.sla_breached", "escalation.reminder", "escalation.escalated"}
        while not wanted <= live.keys():
            # Each message in its turn: recv fails (TimeoutError) if the next one never comes.
            message = json.loads(socket.recv(timeout=WITHIN))
            if message["type"] == "event" and message["escalation_id"] == escalation.pk:
                live[message["event_type"]] = message["data"]
        wait_until(
            lambda: mails.exists() and len(subjects(mails)) >= 2,
            timeout=WITHIN,
            interval=0.1,
            message=lambda: f"two emails; worker log:\n{(tmp_path / 'celery-worker.log').read_text()}",
        )

    assert wanted <= live.keys(), (live.keys(), (tmp_path / "celery-worker.log").read_text())
    assert live["escalation.sla_breached"]["target"] == "response"
    assert (live["escalation.escalated"]["level"], live["escalation.escalated"]["notified"]) == (1, ["ana"])
    assert sorted(subjects(mails)) == [
        f"Escalated to level 1: escalation #{escalation.pk} is still unclaimed",
        f"Reminder: escalation #{escalation.pk} is unclaimed past its response target",
    ]
    escalation.refresh_from_db()
    assert escalation.level == 1 and escalation.response_breached_at is not None
