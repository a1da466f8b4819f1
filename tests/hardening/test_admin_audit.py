"""Changes made in the admin to teams, memberships, agents, rules and webhook endpoints are
audited: a history row with who made them and when, shown in the console's audit log."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent, EscalationRule
from supervisors.models import Membership, Role, Team
from tests import factories
from webhooks import services as webhook_services
from webhooks.models import Endpoint


def form_data(response) -> dict:
    """What the admin's change page would post back unchanged: the form and its inlines."""
    data: dict = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            key = form.add_prefix(name)
            if value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            else:
                data[key] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        data[management.add_prefix("TOTAL_FORMS")] = len(formset.initial_forms)  # no new rows
        for form in formset.initial_forms:
            add(form)
    return data


@pytest.fixture
def owner(team):
    user = factories.make_user("olga", is_staff=True)
    factories.add_member(user, team, Role.OWNER)
    client = Client()
    client.force_login(user)
    return client


def change_in_admin(client: Client, obj, **changes) -> None:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    data = {**form_data(client.get(url)), **changes}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""


@pytest.mark.parametrize(
    "make, field, value",
    [
        (lambda team, agent: team, "description", "Refunds and invoices"),
        (
            lambda team, agent: Membership.objects.get(team=team, user__username="ana"),
            "role",
            Role.CONTRIBUTOR,
        ),
        (lambda team, agent: agent, "description", "Answers refunds only."),
        (lambda team, agent: factories.make_rule(agent, name="Chargebacks"), "name", "Chargebacks v2"),
        (
            lambda team, agent: webhook_services.endpoint_create(
                team=team, url="https://hooks.example.com/in"
            ),
            "description",
            "CRM",
        ),
    ],
    ids=["team", "membership", "agent", "rule", "endpoint"],
)
def test_an_admin_change_is_recorded_with_who_and_when(owner, team, agent, ana, make, field, value):
    obj = make(team, agent)
    # An hour on: after the creation in the history, and still within the login session.
    at = timezone.now().replace(microsecond=0) + dt.timedelta(hours=1)

    with time_machine.travel(at, tick=False):
        change_in_admin(owner, obj, **{field: value})

    change = obj.history.latest("history_id")
    assert (change.history_type, change.history_user.username, change.history_date) == ("~", "olga", at)
    assert getattr(change, field) == value
    assert change.diff_against(change.prev_record).changed_fields == [field]
    log = Client()
    log.force_login(ana)
    kind = {
        Team: "team",
        Membership: "membership",
        Agent: "agent",
        EscalationRule: "rule",
        Endpoint: "endpoint",
    }
    entry = log.get("/console/audit/", {"type": kind[type(obj)]}).context["page"].entries[0]
    assert (entry.who, entry.action, entry.at) == ("olga", "changed", at)
    assert [c.field for c in entry.changes] == [field]


def test_removing_a_member_in_the_admin_is_recorded(owner, team, ana):
    membership = Membership.objects.get(team=team, user=ana)
    url = reverse("admin:supervisors_membership_delete", args=[membership.pk])

    assert owner.post(url, {"post": "yes"}).status_code == 302

    removal = Membership.history.filter(id=membership.pk).latest("history_id")
    assert (removal.history_type, removal.history_user.username) == ("-", "olga")
