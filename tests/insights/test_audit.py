"""/console/audit/: every change to agents, rules, escalations and endpoints of the viewer's teams."""

import datetime as dt

import time_machine
from django.db import transaction
from django.test import Client

from agents import services as agent_services
from escalations import services
from supervisors import audit
from tests import factories
from webhooks import services as webhook_services

URL = "/console/audit/"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_change_shows_who_when_and_old_to_new(agent, ana, olga):
    agent_services.agent_update(agent_id=agent.pk, user=olga, data={"description": "Answers refunds."})
    page = client_for(ana).get(URL, {"type": "agent"})
    assert page.status_code == 200
    entry = page.context["page"].entries[0]
    assert (entry.kind, entry.who, entry.action, entry.object_label) == (
        "agent",
        "olga",
        "changed",
        "Billing Bot",
    )
    assert [(c.field, c.new) for c in entry.changes] == [("description", "Answers refunds.")]
    assert entry.changes[0].old.startswith("Answers billing questions")
    assert "Answers refunds." in page.content.decode()


def test_escalations_rules_and_endpoints_are_all_there_and_secrets_never(escalation, agent, ana, team):
    services.claim(escalation_id=escalation.pk, user=ana)
    factories.make_rule(agent, name="Chargebacks")
    endpoint = webhook_services.endpoint_create(team=team, url="https://hooks.example.com/in")
    webhook_services.endpoint_update(endpoint_id=endpoint.pk, data={"description": "CRM"})
    with transaction.atomic():
        webhook_services.endpoint_disable(endpoint_id=endpoint.pk, reason="410 Gone")
    response = client_for(ana).get(URL)
    entries = response.context["page"].entries
    kinds = {entry.kind for entry in entries}
    # The team and the memberships of the fixtures too (made in the test, so in the log).
    assert kinds == {"agent", "rule", "escalation", "endpoint", "team", "membership"}
    claim = next(e for e in entries if e.kind == "escalation" and e.who == "ana")
    assert ("status", "open", "claimed") in [(c.field, c.old, c.new) for c in claim.changes]
    disabled = next(e for e in entries if e.kind == "endpoint" and e.reason.startswith("Disabled"))
    assert ("active", True, False) in [(c.field, c.old, c.new) for c in disabled.changes]
    page = response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret not in page
    assert not hasattr(endpoint.history.first(), "secret")


def test_other_teams_changes_are_not_shown(agent, ana, outsider):
    legal_agent = factories.make_agent(outsider.teams.get(), "Legal Bot")
    agent_services.agent_update(agent_id=legal_agent.pk, user=outsider, data={"description": "Law."})
    mine = client_for(ana).get(URL).context["page"].entries
    assert not {"Legal Bot", "Legal"} & {entry.object_label for entry in mine}
    theirs = client_for(outsider).get(URL, {"type": "agent"}).context["page"].entries
    assert {entry.object_label for entry in theirs} == {"Legal Bot"}


def test_filters_by_user_kind_object_time_and_text(escalation, agent, ana, bob, olga):
    services.claim(escalation_id=escalation.pk, user=ana)
    services.release(escalation_id=escalation.pk, user=ana, reason="Lunch")
    agent_services.agent_update(agent_id=agent.pk, user=olga, data={"description": "New."})
    client = client_for(bob)
    by_ana = client.get(URL, {"user": "ana"}).context["page"].entries
    assert [e.reason for e in by_ana] == ["Lunch", "Claimed"]
    assert {e.kind for e in client.get(URL, {"type": "agent"}).context["page"].entries} == {"agent"}
    one = client.get(URL, {"type": "escalation", "object": escalation.pk}).context["page"].entries
    assert {e.object_id for e in one} == {escalation.pk} and len(one) == 3  # opened, claimed, released
    assert [e.reason for e in client.get(URL, {"q": "lunch"}).context["page"].entries] == ["Lunch"]
    assert client.get(URL, {"from": "2001-01-01", "to": "2001-01-02"}).context["page"].entries == []


def test_bad_filters_are_a_400(ana):
    client = client_for(ana)
    assert client.get(URL, {"type": "secrets"}).status_code == 400
    response = client.get(URL, {"object": "5"})
    assert response.status_code == 400 and "needs its type" in response.content.decode()
    assert client.get(URL, {"from": "2026-02-02", "to": "2026-02-01"}).status_code == 400


def test_keyset_pages_cover_every_change_once_even_at_the_same_instant(team, ana):
    with time_machine.travel(T0, tick=False):  # every row at one instant: the kind and id break ties
        agent = factories.make_agent(team, "Tied Bot")
        for n in range(3):
            factories.make_rule(agent, name=f"Rule {n}")
        for _ in range(2):
            factories.open_escalation(factories.make_conversation(agent))
    # Not the team and membership kinds: the fixtures made those rows outside T0.
    kinds = ["agent", "rule", "escalation", "endpoint"]
    everything = audit.audit_page(team_ids={team.pk}, kinds=kinds, size=100).entries
    assert len(everything) == 6
    seen, cursor = [], None
    while True:
        page = audit.audit_page(team_ids={team.pk}, kinds=kinds, size=2, cursor=cursor)
        seen += page.entries
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [(e.kind, e.object_id) for e in seen] == [(e.kind, e.object_id) for e in everything]
    assert [e.kind for e in everything] == ["rule", "rule", "rule", "escalation", "escalation", "agent"]


def test_people_are_named_and_times_read_like_the_rest_of_the_console(conversation, ana):
    """`claimed_by: — → 3` was the log's word for "ana claimed it"; times were UTC to the second."""
    with time_machine.travel(T0):  # ticking: each change after the one before
        escalation = factories.open_escalation(conversation)
        services.claim(escalation_id=escalation.pk, user=ana)
        services.respond(escalation_id=escalation.pk, user=ana, guidance="Refund it.")
        services.mark_needed(escalation_id=escalation.pk, user=ana, needed=True)
    client = client_for(ana)
    client.cookies["tz"] = "Europe%2FBerlin"
    response = client.get(URL, {"type": "escalation", "object": escalation.pk})
    shown = {
        change.field: (change.old_shown, change.new_shown)
        for entry in response.context["page"].entries
        for change in entry.changes
    }
    assert shown["claimed_by"] == ("—", "ana")
    assert shown["responder"] == ("—", "ana")
    assert shown["marked_by"] == ("—", "ana")
    page = response.content.decode()
    assert "<del>—</del> → <ins>ana</ins>" in page
    assert f"<ins>{ana.pk}</ins>" not in page
    # 09:00 UTC is 10:00 in Berlin, printed as the queue and the escalation page print times.
    assert ">2026-03-02 10:00 CET</time>" in page
    assert "claim_expires_at</code>: <del>—</del> → <ins>2026-03-02 10:" in page


def test_a_deleted_user_is_shown_by_the_id_the_log_kept(escalation, team, ana):
    temp = factories.make_user("temp")
    factories.add_member(temp, team)
    services.claim(escalation_id=escalation.pk, user=temp)
    temp_id = temp.pk
    temp.delete()
    entries = client_for(ana).get(URL, {"type": "escalation"}).context["page"].entries
    shown = [(c.old_shown, c.new_shown) for e in entries for c in e.changes if c.field == "claimed_by"]
    assert shown == [("—", f"#{temp_id} (deleted)")]
