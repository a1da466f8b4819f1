import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from escalations import services
from supervisors.views import PAGE_SIZE
from tests import factories

HISTORY = reverse("console:history")
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def ids(response) -> list[int]:
    return [escalation.pk for escalation in response.context["page"].rows]


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get(HISTORY)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


@pytest.fixture
def closed(ana, agent, team, make_escalation):
    """A resolved, a dismissed and a withdrawn escalation, closed an hour apart; one still open."""
    refund_desk = factories.make_agent(team, "Refund Desk")
    rows = {}
    with time_machine.travel(T0, tick=False):
        rows["resolved"] = make_escalation(agent, external_id="chat-alpha", severity="critical")
        rows["dismissed"] = make_escalation(refund_desk, reason="Duplicate charge reported", severity="info")
        rows["withdrawn"] = make_escalation(agent, severity="warning")
        rows["open"] = make_escalation(agent)
    with time_machine.travel(T0 + dt.timedelta(minutes=25), tick=False):
        services.respond(escalation_id=rows["resolved"].pk, user=ana, guidance="Refund it")
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        services.dismiss(escalation_id=rows["dismissed"].pk, user=ana, note="Already handled")
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        services.withdraw(escalation_id=rows["withdrawn"].pk, agent=agent, reason="User left")
    return rows


def test_it_lists_closed_escalations_most_recently_closed_first(client, ana, closed):
    client.force_login(ana)

    response = client.get(HISTORY)

    assert ids(response) == [closed[name].pk for name in ["withdrawn", "dismissed", "resolved"]]


def test_it_says_who_answered_and_how_long_it_took(client, ana, closed):
    client.force_login(ana)

    page = client.get(HISTORY).content.decode()

    assert "25 min" in page  # created -> resolved
    assert ">1 h<" in page  # created -> dismissed
    assert "<td>ana</td>" in page
    assert "the agent" in page  # withdrawn: no person answered


def test_another_teams_history_is_not_shown(client, ana, bob, legal_agent, make_escalation, outsider):
    theirs = make_escalation(legal_agent, reason="Subpoena received")
    services.dismiss(escalation_id=theirs.pk, user=outsider)
    client.force_login(ana)

    response = client.get(HISTORY)

    assert ids(response) == []
    assert "Subpoena" not in response.content.decode()
    assert ids(client.get(HISTORY, {"team": "legal"})) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"outcome": "resolved"}, ["resolved"]),
        ({"outcome": "dismissed"}, ["dismissed"]),
        ({"outcome": "withdrawn"}, ["withdrawn"]),
        ({"severity": "critical"}, ["resolved"]),
        ({"agent": "refund-desk"}, ["dismissed"]),
        ({"team": "billing"}, ["withdrawn", "dismissed", "resolved"]),
        ({"q": "duplicate"}, ["dismissed"]),  # the reason
        ({"q": "refund desk"}, ["dismissed"]),  # the agent's name
        ({"q": "chat-alpha"}, ["resolved"]),  # the conversation's external id
        ({"q": "nothing like this"}, []),
    ],
)
def test_search_and_filters(client, ana, closed, query, expected):
    client.force_login(ana)

    response = client.get(HISTORY, query)

    assert ids(response) == [closed[name].pk for name in expected]


def test_the_search_survives_a_reload(client, ana, closed):
    client.force_login(ana)

    page = client.get(HISTORY, {"q": "duplicate", "outcome": "dismissed"}).content.decode()

    assert 'value="duplicate"' in page
    assert '<option value="dismissed" selected>' in page


def test_an_empty_history_says_what_lands_here(client, ana):
    client.force_login(ana)

    page = client.get(HISTORY).content.decode()

    assert "Nothing closed yet." in page


def test_it_pages_without_skipping_or_repeating(client, ana, agent, make_escalation):
    closed_ids = []
    for minute in range(PAGE_SIZE + 2):
        with time_machine.travel(T0 + dt.timedelta(minutes=minute), tick=False):
            escalation = make_escalation(agent)
            services.dismiss(escalation_id=escalation.pk, user=ana)
            closed_ids.append(escalation.pk)
    client.force_login(ana)

    first = client.get(HISTORY)
    second = client.get(HISTORY, {"after": first.context["page"].next_cursor})

    assert ids(first) + ids(second) == list(reversed(closed_ids))
    assert len(ids(first)) == PAGE_SIZE
    assert second.context["page"].next_cursor is None


def test_a_report_page_opens_the_socket_for_presence_but_does_not_refresh_itself(client, ana):
    client.force_login(ana)

    page = client.get(HISTORY).content.decode()

    assert 'data-live-socket="/ws/console/"' in page
    assert 'data-live-refresh="off"' in page
    assert "js/console.js" in page


def test_the_login_page_opens_no_socket(client, db):
    page = client.get(reverse("console:login")).content.decode()

    assert "data-live-socket" not in page
    assert "js/console.js" not in page
