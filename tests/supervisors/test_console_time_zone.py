import datetime as dt

import time_machine
from django.urls import reverse

from tests import factories

T0 = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)


def test_times_show_in_the_zone_the_browser_reported(client, ana, conversation):
    with time_machine.travel(T0, tick=False):
        escalation = factories.open_escalation(conversation)
    client.force_login(ana)
    client.cookies["tz"] = "Europe%2FBerlin"

    page = client.get(reverse("console:detail", args=[escalation.pk])).content.decode()

    assert "2026-01-15 10:30 CET" in page


def test_an_unknown_zone_falls_back_to_utc(client, ana, conversation):
    with time_machine.travel(T0, tick=False):
        escalation = factories.open_escalation(conversation)
    client.force_login(ana)
    client.cookies["tz"] = "Mars/Olympus_Mons"

    page = client.get(reverse("console:detail", args=[escalation.pk])).content.decode()

    assert "2026-01-15 09:30 UTC" in page


def test_the_script_that_reports_the_zone_is_served_locally(client, db):
    page = client.get(reverse("home")).content.decode()

    assert '<script src="/static/js/timezone.js" defer></script>' in page
