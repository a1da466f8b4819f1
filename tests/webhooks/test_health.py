"""An endpoint switched off automatically: an Event, an email to the team's owners, a console banner."""

import datetime as dt
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.test import Client

from escalations.models import Event, EventType
from escalations.tasks import send_event_emails
from supervisors.models import Role
from supervisors.tokens import user_token_create
from tests import factories
from tests.api.conftest import token_client
from tests.supervisors.conftest import console_socket, session_cookie
from tests.webhooks.conftest import deliveries_of, open_escalation
from webhooks import services
from webhooks.models import Delivery

OTHER_URL = "https://93.184.216.34/other"


@pytest.fixture(autouse=True)
def emails_sent_at_once():
    """The owners' email goes through the retrying email task: here it runs at once, not via the broker."""
    with mock.patch.object(send_event_emails, "delay", lambda items: send_event_emails.apply([items])):
        yield


def gone(receiver, hook_endpoint, team, capture) -> None:
    """One delivery answered with 410 Gone, on-commit callbacks run (the email is sent after commit)."""
    receiver.expect_request("/hook").respond_with_data("gone", status=410)
    open_escalation(team)
    # No message to the broker: nothing consumes this test's queue.
    with mock.patch("webhooks.tasks.deliver.delay"), capture(execute=True):
        services.delivery_attempt(delivery_id=deliveries_of(hook_endpoint)[-1].pk)


def test_a_410_tells_the_owners_by_email_and_records_a_team_event(
    receiver, hook_endpoint, team, olga, ana, outsider, django_capture_on_commit_callbacks
):
    second_owner = factories.make_user("omar")
    factories.add_member(second_owner, team, Role.OWNER)

    gone(receiver, hook_endpoint, team, django_capture_on_commit_callbacks)

    (message,) = mail.outbox
    # Owners only: not ana (a supervisor), not otto (another team's owner).
    assert sorted(message.to) == ["olga@example.com", "omar@example.com"]
    assert hook_endpoint.url in message.subject
    assert "410 Gone" in message.body
    assert f"/admin/webhooks/endpoint/{hook_endpoint.pk}/change/" in message.body

    event = Event.objects.get(type=EventType.WEBHOOK_ENDPOINT_DISABLED)
    assert (event.team_id, event.escalation_id) == (team.pk, None)
    assert event.payload["endpoint"] == {
        "id": hook_endpoint.pk,
        "url": hook_endpoint.url,
        "description": "",
        "team": {"id": team.pk, "slug": team.slug},
    }
    assert event.payload["reason"] == "The receiver answered 410 Gone."


def test_failing_for_five_days_tells_the_owners_once(
    receiver, hook_endpoint, team, olga, clock, django_capture_on_commit_callbacks
):
    receiver.expect_request("/hook").respond_with_data("no", status=500)
    for shift in (dt.timedelta(0), dt.timedelta(days=5), dt.timedelta(hours=1)):
        clock.shift(shift)
        open_escalation(team)
        with mock.patch("webhooks.tasks.deliver.delay"), django_capture_on_commit_callbacks(execute=True):
            # The last one finds the endpoint off already: it is not sent, nobody is told twice.
            services.delivery_attempt(delivery_id=deliveries_of(hook_endpoint)[-1].pk)

    assert len(mail.outbox) == 1
    assert "Every attempt failed for 5 days" in mail.outbox[0].body
    assert Event.objects.filter(type=EventType.WEBHOOK_ENDPOINT_DISABLED).count() == 1


def test_the_teams_other_endpoints_receive_the_event(
    receiver, hook_endpoint, team, django_capture_on_commit_callbacks
):
    other = services.endpoint_create(team=team, url=OTHER_URL)

    gone(receiver, hook_endpoint, team, django_capture_on_commit_callbacks)

    types = [
        d.event.type for d in Delivery.objects.filter(endpoint=other).select_related("event").order_by("id")
    ]
    assert types == [EventType.CREATED, EventType.WEBHOOK_ENDPOINT_DISABLED]
    assert [d.event.type for d in deliveries_of(hook_endpoint)] == [EventType.CREATED]


def test_the_event_feed_shows_the_event_to_the_team_only(
    receiver, hook_endpoint, team, ana, outsider, django_capture_on_commit_callbacks
):
    gone(receiver, hook_endpoint, team, django_capture_on_commit_callbacks)

    ours = token_client(user_token_create(user=ana)[1]).get("/api/v1/events/").json()["results"]
    theirs = token_client(user_token_create(user=outsider)[1]).get("/api/v1/events/").json()["results"]
    disabled = [row for row in ours if row["type"] == "webhook_endpoint.disabled"]
    assert len(disabled) == 1
    assert disabled[0]["escalation_id"] is None
    assert disabled[0]["data"]["endpoint"]["id"] == hook_endpoint.pk
    assert theirs == []


def page_for(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/console/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_owners_see_a_banner_until_the_endpoint_is_re_enabled(
    receiver, hook_endpoint, team, olga, ana, outsider, django_capture_on_commit_callbacks
):
    assert "was disabled on" not in page_for(olga)

    gone(receiver, hook_endpoint, team, django_capture_on_commit_callbacks)

    page = page_for(olga)
    assert f"Webhook endpoint {hook_endpoint.url} was disabled on" in page
    assert "The receiver answered 410 Gone." in page
    assert f'href="/admin/webhooks/endpoint/{hook_endpoint.pk}/change/">Re-enable it in the admin.' in page
    assert "was disabled on" not in page_for(ana)  # a supervisor: not theirs to fix
    assert "was disabled on" not in page_for(outsider)

    services.endpoint_update(endpoint_id=hook_endpoint.pk, data={"active": True})
    assert "was disabled on" not in page_for(olga)


def test_switching_an_endpoint_off_by_hand_shows_no_banner(hook_endpoint, olga):
    services.endpoint_update(endpoint_id=hook_endpoint.pk, data={"active": False})

    assert "was disabled on" not in page_for(olga)
    assert not mail.outbox


@pytest.mark.django_db(transaction=True)
def test_the_console_socket_replays_the_team_event(receiver, hook_endpoint, team, ana):
    receiver.expect_request("/hook").respond_with_data("gone", status=410)
    with mock.patch("webhooks.tasks.deliver.delay"):  # committed for real: keep it out of the broker
        open_escalation(team)
    services.delivery_attempt(delivery_id=deliveries_of(hook_endpoint)[-1].pk)
    event = Event.objects.get(type=EventType.WEBHOOK_ENDPOINT_DISABLED)
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "resume", "after": 0})
        messages = []
        while not messages or messages[-1]["type"] != "resumed":
            message = await socket.receive_json_from(timeout=5)
            if message["type"] != "presence":
                messages.append(message)
        await socket.disconnect()
        return messages

    messages = async_to_sync(scenario)()

    replayed = [m for m in messages if m["type"] == "event" and m["id"] == event.pk]
    assert replayed == [
        {
            "type": "event",
            "id": event.pk,
            "event_type": "webhook_endpoint.disabled",
            "escalation_id": None,
            "team_id": team.pk,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        }
    ]
