"""The webhook admin through its real views: team scoping, the secret shown once, the actions."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from standardwebhooks import Webhook

from supervisors.models import Role
from tests import factories
from tests.webhooks.conftest import deliveries_of, open_escalation
from webhooks import services
from webhooks.models import Delivery, Endpoint

# A public address literal: no DNS lookup in tests (the network may be closed).
URL = "https://93.184.216.34/"


@pytest.fixture
def world(db):
    support = factories.make_team("Support")
    billing = factories.make_team("Billing")
    carla = factories.make_user("carla", is_staff=True)  # contributor of Support only
    factories.add_member(carla, support, Role.CONTRIBUTOR)
    sid = factories.make_user("sid", is_staff=True)  # supervisor of Support
    factories.add_member(sid, support, Role.SUPERVISOR)
    ours = services.endpoint_create(team=support, url=URL + "support")
    theirs = services.endpoint_create(team=billing, url=URL + "billing")
    return {
        "support": support,
        "billing": billing,
        "carla": carla,
        "sid": sid,
        "ours": ours,
        "theirs": theirs,
    }


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_contributor_sees_only_their_teams_endpoints(client, world):
    client.force_login(world["carla"])

    page = client.get(reverse("admin:webhooks_endpoint_changelist"))

    assert list(page.context["cl"].queryset) == [world["ours"]]
    assert client.get(reverse("admin:webhooks_endpoint_change", args=[world["theirs"].pk])).status_code == 302


def test_a_supervisor_cannot_reach_webhooks(client, world):
    client.force_login(world["sid"])

    assert client.get(reverse("admin:webhooks_endpoint_changelist")).status_code == 403


def test_creating_an_endpoint_shows_its_secret_once(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"team": world["support"].pk, "url": URL + "new", "description": "CRM", "active": "on"},
        follow=True,
    )

    endpoint = Endpoint.objects.get(url=URL + "new")
    assert endpoint.secret.startswith("whsec_")
    assert any(endpoint.secret in text for text in texts(response))
    page = client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert endpoint.secret not in page.content.decode()


def test_an_internal_address_is_refused_with_a_field_message(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"team": world["support"].pk, "url": "http://169.254.169.254/latest/meta-data", "active": "on"},
    )

    assert response.status_code == 200
    assert "not a public address" in str(response.context["adminform"].form.errors["url"])
    assert not Endpoint.objects.filter(url__contains="169.254").exists()


@pytest.mark.parametrize("debug", [True, False])
def test_a_loopback_url_says_how_to_allow_it_on_a_developer_machine(client, world, settings, tmp_path, debug):
    settings.DEBUG, settings.VAR_DIR = debug, tmp_path  # no demo credentials file: only DEBUG counts
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"team": world["support"].pk, "url": "http://127.0.0.1:9000/hook", "active": "on"},
    )

    message = str(response.context["adminform"].form.errors["url"])
    assert "127.0.0.1, which is not a public address" in message
    assert ("WEBHOOKS_ALLOW_LOOPBACK=true" in message) is debug


def test_a_loopback_url_says_how_to_allow_it_when_the_demo_is_seeded(client, world, settings, tmp_path):
    from escalations.demo import CREDENTIALS_FILE_NAME

    settings.DEBUG, settings.VAR_DIR = False, tmp_path
    (tmp_path / CREDENTIALS_FILE_NAME).write_text("[]")
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"team": world["support"].pk, "url": "http://[::1]/hook", "active": "on"},
    )

    assert "set WEBHOOKS_ALLOW_LOOPBACK=true" in str(response.context["adminform"].form.errors["url"])


def test_a_private_url_does_not_mention_the_loopback_switch(client, world, settings):
    settings.DEBUG = True
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"team": world["support"].pk, "url": "http://10.0.0.5/hook", "active": "on"},
    )

    assert "WEBHOOKS_ALLOW_LOOPBACK" not in str(response.context["adminform"].form.errors["url"])


def test_another_teams_endpoint_cannot_be_created(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_add"), {"team": world["billing"].pk, "url": URL + "sneaky"}
    )

    assert "team" in response.context["adminform"].form.errors
    assert not Endpoint.objects.filter(url=URL + "sneaky").exists()


def test_rotating_shows_the_new_secret_and_keeps_the_old_one_signing(client, world):
    client.force_login(world["carla"])
    old = world["ours"].secret

    response = client.post(
        reverse("admin:webhooks_endpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [world["ours"].pk, world["theirs"].pk]},
        follow=True,
    )

    endpoint = Endpoint.objects.get(pk=world["ours"].pk)
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert any(endpoint.secret in text for text in texts(response))
    # Billing's endpoint was not in carla's queryset, so it was not rotated.
    assert Endpoint.objects.get(pk=world["theirs"].pk).secret == world["theirs"].secret


def test_send_a_test_event_reaches_the_receiver(client, world, receiver):
    receiver.expect_request("/hook").respond_with_data("ok")
    endpoint = services.endpoint_create(team=world["support"], url=receiver.url_for("/hook"))
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_changelist"),
        {"action": "send_test_event", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    assert f"{endpoint.url} answered 200." in texts(response)
    ((request, _response),) = receiver.log
    Webhook(endpoint.secret).verify(request.get_data(), dict(request.headers))


def test_the_change_page_shows_recent_deliveries_with_success_rate(client, world, receiver):
    receiver.expect_request("/hook").respond_with_data("nope", status=500)
    endpoint = services.endpoint_create(team=world["support"], url=receiver.url_for("/hook"))
    open_escalation(world["support"])
    delivery = deliveries_of(endpoint)[-1]
    services.delivery_attempt(delivery_id=delivery.pk)
    client.force_login(world["carla"])

    page = client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])).content.decode()

    assert delivery.webhook_id in page
    assert "0% of 1" in page
    assert "HTTP 500" in page
    detail = client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()
    assert "nope" in detail  # the attempt's response excerpt


def test_redeliver_queues_the_delivery_again(client, world):
    open_escalation(world["support"])
    delivery = deliveries_of(world["ours"])[-1]
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    client.force_login(world["carla"])

    client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )

    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None


def test_replay_failed_since_a_time(client, world):
    open_escalation(world["support"])
    delivery = deliveries_of(world["ours"])[-1]
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    client.force_login(world["carla"])
    since = (delivery.event.created_at - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")

    response = client.post(
        reverse("admin:webhooks_endpoint_replay", args=[world["ours"].pk]), {"since": since}, follow=True
    )

    assert "1 failed deliveries queued again." in texts(response)
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert client.get(reverse("admin:webhooks_endpoint_replay", args=[world["theirs"].pk])).status_code == 404


def test_re_enabling_offers_to_replay_what_failed(client, world):
    services.endpoint_disable(endpoint_id=world["ours"].pk, reason="The receiver answered 410 Gone.")
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:webhooks_endpoint_change", args=[world["ours"].pk]),
        {"team": world["support"].pk, "url": world["ours"].url, "active": "on"},
        follow=True,
    )

    endpoint = Endpoint.objects.get(pk=world["ours"].pk)
    assert endpoint.active and endpoint.disabled_reason == ""
    replay = reverse("admin:webhooks_endpoint_replay", args=[endpoint.pk])
    assert any(replay in text for text in texts(response))
