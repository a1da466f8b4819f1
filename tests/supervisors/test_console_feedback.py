"""The escalation page's Needed / Not needed buttons."""

from django.test import Client
from django.urls import reverse

from escalations.models import Escalation


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_both_buttons_and_marks_the_chosen_one(escalation, ana):
    client = client_for(ana)
    page = client.get(reverse("console:detail", args=[escalation.pk])).content.decode()
    assert 'name="needed" value="true"' in page and 'name="needed" value="false"' in page
    response = client.post(reverse("console:feedback", args=[escalation.pk]), {"needed": "false"})
    assert response.status_code == 302
    assert Escalation.objects.get(pk=escalation.pk).needed is False
    page = client.get(reverse("console:detail", args=[escalation.pk])).content.decode()
    assert 'value="false" class="selected"' in page
    assert "marked by ana" in page


def test_a_bad_value_is_a_400_and_changes_nothing(escalation, ana):
    response = client_for(ana).post(reverse("console:feedback", args=[escalation.pk]), {"needed": "maybe"})
    assert response.status_code == 400
    assert b"needed must be true or false" in response.content
    assert Escalation.objects.get(pk=escalation.pk).needed is None


def test_another_teams_escalation_is_a_404(escalation, outsider):
    url = reverse("console:feedback", args=[escalation.pk])
    response = client_for(outsider).post(url, {"needed": "true"})
    assert response.status_code == 404
    assert Escalation.objects.get(pk=escalation.pk).needed is None
