import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations import services
from escalations.models import Event
from escalations.selectors import unanswered_count
from supervisors import presence
from supervisors.models import Role
from supervisors.presence import presence_join
from supervisors.views import PAGE_SIZE
from tests import factories

QUEUE = reverse("console:queue")
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def ids(response) -> list[int]:
    return [escalation.pk for escalation in response.context["page"].rows]


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get(QUEUE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('console:login')}?next={QUEUE}"


def test_a_supervisor_logs_in_on_the_console_login_page(client, ana):
    response = client.post(reverse("console:login"), {"username": "ana", "password": "pw"})

    assert response.status_code == 302
    assert response["Location"] == QUEUE
    assert client.get(QUEUE).status_code == 200


def test_a_supervisor_sees_only_their_teams_escalations(client, ana, agent, legal_agent, make_escalation):
    mine = make_escalation(agent)
    make_escalation(legal_agent, reason="Subpoena received from the court")
    client.force_login(ana)

    response = client.get(QUEUE)

    assert ids(response) == [mine.pk]
    page = response.content.decode()
    assert "Subpoena" not in page
    assert "Legal Bot" not in page  # not even as a filter choice


def test_a_superuser_sees_every_team(client, agent, legal_agent, make_escalation):
    mine, theirs = make_escalation(agent), make_escalation(legal_agent)
    client.force_login(factories.make_user("root", superuser=True))

    assert set(ids(client.get(QUEUE))) == {mine.pk, theirs.pk}


def test_closed_escalations_leave_the_queue(client, ana, agent, make_escalation):
    open_one, claimed = make_escalation(agent), make_escalation(agent)
    services.claim(escalation_id=claimed.pk, user=ana)
    resolved = make_escalation(agent)
    services.respond(escalation_id=resolved.pk, user=ana, guidance="Refund it")
    client.force_login(ana)

    assert set(ids(client.get(QUEUE))) == {open_one.pk, claimed.pk}


def test_the_empty_state_says_what_makes_an_escalation_appear(client, ana):
    client.force_login(ana)

    page = client.get(QUEUE).content.decode()

    assert "No escalations yet. All agents are running smoothly." in page
    assert "escalate_to_human" in page


def test_a_filter_that_matches_nothing_says_so_instead_of_the_empty_state(
    client, ana, agent, make_escalation
):
    make_escalation(agent, severity="info")
    client.force_login(ana)

    page = client.get(QUEUE, {"severity": "critical"}).content.decode()

    assert "Nothing matches these filters." in page
    assert "No escalations yet" not in page


def test_the_row_shows_the_columns_a_supervisor_triages_by(client, ana, agent, make_escalation):
    with time_machine.travel(T0, tick=False):
        escalation = make_escalation(agent, severity="critical", topic="Refunds", area="EU", channel="email")
    client.force_login(ana)

    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        page = client.get(QUEUE).content.decode()

    assert escalation.reason in page
    assert "Critical" in page and "Billing Bot" in page and "Email" in page
    assert "Refunds / EU" in page
    assert ">5 min</time>" in page  # its age
    assert "in 10 min</time>" in page  # critical -> high urgency -> 15 minutes to respond
    assert "unclaimed" in page


def test_a_row_past_its_response_target_is_marked_overdue(client, ana, agent, make_escalation):
    with time_machine.travel(T0, tick=False):
        make_escalation(agent, severity="critical")
    client.force_login(ana)

    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        response = client.get(QUEUE)

    assert response.context["page"].rows[0].overdue
    assert 'class="overdue-label">overdue' in response.content.decode()


def test_counts_per_severity_cover_the_visible_open_and_claimed_rows(
    client, ana, agent, legal_agent, make_escalation
):
    for severity in ["critical", "warning", "warning", "info"]:
        make_escalation(agent, severity=severity)
    services.claim(escalation_id=make_escalation(agent, severity="critical").pk, user=ana)
    make_escalation(legal_agent, severity="critical")  # another team's
    client.force_login(ana)

    response = client.get(QUEUE)

    assert response.context["counts"] == [
        ("critical", "Critical", 2),
        ("warning", "Warning", 2),
        ("info", "Info", 1),
    ]
    assert response.context["unanswered"] == 5


# --- Filters ------------------------------------------------------------------------------


@pytest.fixture
def spread(ana, bob, team, agent, make_escalation):
    """One escalation per interesting value, all in ana's team."""
    other_agent = factories.make_agent(team, "Refund Desk")
    rows = {
        "critical": make_escalation(agent, severity="critical", urgency="low"),
        "info": make_escalation(agent, severity="info", urgency="high"),
        "email": make_escalation(other_agent, severity="warning", urgency="medium", channel="email"),
        "claimed_by_ana": make_escalation(agent, severity="warning", urgency="medium"),
        "claimed_by_bob": make_escalation(agent, severity="warning", urgency="medium"),
    }
    services.claim(escalation_id=rows["claimed_by_ana"].pk, user=ana)
    services.claim(escalation_id=rows["claimed_by_bob"].pk, user=bob)
    return rows


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"severity": "critical"}, {"critical"}),
        ({"urgency": "high"}, {"info"}),
        ({"agent": "refund-desk"}, {"email"}),
        ({"channel": "email"}, {"email"}),
        ({"claimed": "mine"}, {"claimed_by_ana"}),
        ({"claimed": "unclaimed"}, {"critical", "info", "email"}),
        ({"severity": "warning", "claimed": "unclaimed"}, {"email"}),
    ],
)
def test_each_filter_narrows_the_queue(client, ana, spread, query, expected):
    client.force_login(ana)

    response = client.get(QUEUE, query)

    assert set(ids(response)) == {spread[name].pk for name in expected}


def test_the_team_filter_shows_one_of_several_teams(client, ana, agent, make_escalation):
    support = factories.make_team("Support")
    factories.add_member(ana, support, Role.SUPERVISOR)
    support_row = make_escalation(factories.make_agent(support, "Support Bot"))
    make_escalation(agent)
    client.force_login(ana)

    assert ids(client.get(QUEUE, {"team": "support"})) == [support_row.pk]
    assert len(ids(client.get(QUEUE))) == 2


def test_another_teams_slug_in_the_url_shows_nothing_of_theirs(
    client, ana, agent, legal_agent, make_escalation
):
    mine = make_escalation(agent)
    make_escalation(legal_agent)
    client.force_login(ana)

    # Not a choice for ana, so the filter is ignored rather than revealing anything.
    assert ids(client.get(QUEUE, {"team": "legal"})) == [mine.pk]


def test_filters_survive_a_reload_in_the_url_and_the_form(client, ana, spread):
    client.force_login(ana)

    page = client.get(QUEUE, {"severity": "critical", "sort": "due"}).content.decode()

    assert '<option value="critical" selected>' in page
    assert '<option value="due" selected>' in page


# --- Sorting ------------------------------------------------------------------------------


@pytest.fixture
def timed(agent, make_escalation):
    """Made ten minutes apart: an old info, a warning, a new critical, an old critical."""
    rows = {}
    for minutes, name, severity in [
        (0, "old_critical", "critical"),
        (10, "old_info", "info"),
        (20, "warning", "warning"),
        (30, "new_critical", "critical"),
    ]:
        with time_machine.travel(T0 + dt.timedelta(minutes=minutes), tick=False):
            rows[name] = make_escalation(agent, severity=severity)
    return rows


def test_the_default_sort_is_critical_first_then_oldest(client, ana, timed):
    client.force_login(ana)

    order = ids(client.get(QUEUE))

    assert order == [timed[name].pk for name in ["old_critical", "new_critical", "warning", "old_info"]]


def test_newest_first(client, ana, timed):
    client.force_login(ana)

    order = ids(client.get(QUEUE, {"sort": "newest"}))

    assert order == [timed[name].pk for name in ["new_critical", "warning", "old_info", "old_critical"]]


def test_due_soonest_first(client, ana, timed):
    # Response targets from the urgency: critical (high) 15 min, warning 60, info 240.
    client.force_login(ana)

    order = ids(client.get(QUEUE, {"sort": "due"}))

    assert order == [timed[name].pk for name in ["old_critical", "new_critical", "warning", "old_info"]]


def test_due_soonest_uses_the_resolution_target_once_claimed(client, ana, agent, make_escalation):
    # Targets: high urgency 15 min to claim, 60 to answer; medium 60 to claim.
    with time_machine.travel(T0 - dt.timedelta(minutes=30), tick=False):
        warning = make_escalation(agent, severity="warning")  # due T0+30
    with time_machine.travel(T0, tick=False):
        critical = make_escalation(agent, severity="critical")  # due T0+15 while open
    client.force_login(ana)
    assert ids(client.get(QUEUE, {"sort": "due"})) == [critical.pk, warning.pk]

    services.claim(escalation_id=critical.pk, user=ana)  # now due T0+60
    assert ids(client.get(QUEUE, {"sort": "due"})) == [warning.pk, critical.pk]

    services.release(escalation_id=critical.pk, user=ana)  # the response target again
    assert ids(client.get(QUEUE, {"sort": "due"})) == [critical.pk, warning.pk]


def test_due_soonest_pages_through_claimed_and_open_rows_in_order(client, ana, agent, make_escalation):
    made = []
    for minute in range(PAGE_SIZE + 1):
        with time_machine.travel(T0 + dt.timedelta(minutes=minute), tick=False):
            made.append(make_escalation(agent, severity="warning"))
    for escalation in made[::2]:  # due at creation + 240 instead of + 60: after every open one
        services.claim(escalation_id=escalation.pk, user=ana)
    client.force_login(ana)

    first = client.get(QUEUE, {"sort": "due"})
    second = client.get(QUEUE, {"sort": "due", "after": first.context["page"].next_cursor})

    expected = [e.pk for e in made[1::2]] + [e.pk for e in made[::2]]
    assert ids(first) + ids(second) == expected


# --- Pages and queries ----------------------------------------------------------------------


def test_exactly_one_page_has_no_next_link(client, ana, agent, make_escalation):
    for _ in range(PAGE_SIZE):
        make_escalation(agent)
    client.force_login(ana)

    response = client.get(QUEUE)

    assert len(ids(response)) == PAGE_SIZE
    assert response.context["page"].next_cursor is None
    assert "Next page" not in response.content.decode()


def test_one_row_more_than_a_page_goes_to_the_next_page_in_order(client, ana, agent, make_escalation):
    made = []
    for minute in range(PAGE_SIZE + 1):
        with time_machine.travel(T0 + dt.timedelta(minutes=minute), tick=False):
            made.append(make_escalation(agent, severity="warning").pk)
    client.force_login(ana)

    first = client.get(QUEUE, {"severity": "warning"})
    cursor = first.context["page"].next_cursor
    second = client.get(QUEUE, {"severity": "warning", "after": cursor})

    assert "Next page" in first.content.decode()
    assert ids(first) == made[:PAGE_SIZE]
    assert ids(second) == made[PAGE_SIZE:]
    assert second.context["page"].next_cursor is None
    assert "First page" in second.content.decode()
    assert "severity=warning" in second.content.decode()  # the filter carries over


def test_a_mangled_cursor_starts_at_the_first_page(client, ana, agent, make_escalation):
    escalation = make_escalation(agent)
    client.force_login(ana)

    assert ids(client.get(QUEUE, {"after": "not-a-cursor!"})) == [escalation.pk]


def test_the_query_count_does_not_grow_with_the_rows(
    client, ana, bob, agent, make_escalation, django_assert_num_queries
):
    def add_rows(n: int) -> None:
        for i in range(n):
            escalation = make_escalation(agent, topic="Refunds")
            if i % 2:
                services.claim(escalation_id=escalation.pk, user=bob)

    add_rows(2)
    client.force_login(ana)
    with CaptureQueriesContext(connection) as few:
        assert len(ids(client.get(QUEUE))) == 2
    add_rows(20)

    with django_assert_num_queries(len(few.captured_queries)):
        assert len(ids(client.get(QUEUE))) == 22


def test_no_count_over_the_whole_table(client, ana, agent, make_escalation):
    make_escalation(agent)
    client.force_login(ana)

    with CaptureQueriesContext(connection) as queries:
        client.get(QUEUE)

    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert all("GROUP BY" in sql.upper() for sql in counts), counts


def test_a_render_reads_the_users_memberships_once(client, ana, agent, make_escalation):
    make_escalation(agent)
    client.force_login(ana)

    with CaptureQueriesContext(connection) as queries:
        client.get(QUEUE)

    # The viewer's own memberships (the header's coverage reads the teams' on-duty members apart).
    own = f'"supervisors_membership"."user_id" = {ana.pk}'
    membership_reads = [q["sql"] for q in queries.captured_queries if own in q["sql"]]
    assert len(membership_reads) == 1, membership_reads


# --- The header ------------------------------------------------------------------------------


def test_the_header_shows_the_users_teams_and_their_unanswered_count(client, ana, agent, make_escalation):
    make_escalation(agent)
    services.claim(escalation_id=make_escalation(agent).pk, user=ana)  # claimed, not yet answered
    services.dismiss(escalation_id=make_escalation(agent).pk, user=ana)  # answered
    client.force_login(ana)

    page = client.get(reverse("home")).content.decode()

    assert 'href="/console/">Console</a>' in page
    assert '<span class="queue-count">2</span> unanswered' in page
    assert "Billing" in page


def test_the_header_and_the_queue_print_the_same_count_with_the_same_label(
    client, ana, bob, agent, legal_agent, make_escalation
):
    """They said "13 open" and "14 waiting" of the same queue: one selector now counts for both."""
    for severity in ["critical", "warning", "info"]:
        make_escalation(agent, severity=severity)
    services.claim(escalation_id=make_escalation(agent).pk, user=bob)
    services.respond(escalation_id=make_escalation(agent).pk, user=bob, guidance="Done.")
    make_escalation(legal_agent)  # another team's
    client.force_login(ana)

    response = client.get(QUEUE)

    assert unanswered_count(user=ana) == 4
    assert response.context["unanswered"] == 4
    assert len(response.context["rows"]) == 4  # what the number counts: the queue's rows
    assert sum(n for _, _, n in response.context["counts"]) == 4
    page = response.content.decode()
    assert '<span class="queue-count">4</span> unanswered' in page
    assert '<strong class="unanswered-count">4</strong> unanswered' in page
    assert page.count('title="Escalations of your teams that nobody has answered yet, open or claimed') == 2


def test_runstack_lists_the_console_as_built(client, db):
    # runstack marks a page "(coming)" when an anonymous request gets 404.
    assert client.get(QUEUE).status_code != 404


def test_logging_out_returns_to_the_login_page(client, ana):
    client.force_login(ana)

    response = client.post(reverse("console:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("console:login")
    assert client.get(QUEUE).status_code == 302


def test_a_superusers_header_counts_the_unanswered_escalations_of_every_team(
    client, agent, legal_agent, make_escalation, bob
):
    make_escalation(agent)
    make_escalation(legal_agent)
    services.claim(escalation_id=make_escalation(agent).pk, user=bob)  # claimed: still unanswered
    root = factories.make_user("root", superuser=True)
    services.dismiss(escalation_id=make_escalation(legal_agent).pk, user=root)  # closed
    client.force_login(root)

    page = client.get(reverse("home")).content.decode()

    assert '<span class="queue-count">3</span> unanswered' in page


def test_the_header_shows_how_many_supervisors_are_online_per_team(client, ana, bob, team):
    presence_join(team_ids=[team.pk], user_id=bob.pk, connection_id="bob-tab-1")
    presence_join(team_ids=[team.pk], user_id=bob.pk, connection_id="bob-tab-2")  # one person, two tabs
    client.force_login(ana)

    page = client.get(QUEUE).content.decode()

    assert f'data-presence-team="{team.pk}">1</span> online' in page


def test_the_header_still_renders_when_presence_is_unavailable(client, ana, team, monkeypatch):
    def redis_down(team_ids):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(presence, "online_user_ids_by_team", redis_down)
    client.force_login(ana)

    response = client.get(QUEUE)

    assert response.status_code == 200
    assert f'data-presence-team="{team.pk}">?</span> online' in response.content.decode()


# --- Live updates -----------------------------------------------------------------------------


def test_the_queue_page_names_its_socket_and_the_newest_event_it_reflects(
    client, ana, agent, make_escalation
):
    make_escalation(agent)
    newest = make_escalation(agent)
    client.force_login(ana)

    page = client.get(QUEUE).content.decode()

    last_id = Event.objects.filter(escalation=newest).get().pk
    assert f'data-live-socket="/ws/console/" data-last-event-id="{last_id}"' in page
    assert "js/console.js" in page
    assert "data-live-refresh" not in page  # the queue refreshes itself on every event
    assert page.count("data-live-region") == 4  # header widget, webhook health, counts, rows


def test_the_header_flags_a_team_nobody_on_duty_is_watching_and_offers_the_on_duty_switch(
    client, ana, bob, team, agent
):
    client.force_login(ana)

    page = client.get(QUEUE).content.decode()
    # Billing's agent can escalate; no console is open. (Drawn hidden when covered: the live
    # presence update shows it again.)
    assert f'data-uncovered-team="{team.pk}" title=' in page
    assert (
        '<input type="hidden" name="on_duty" value="false">' in page
    )  # ana is on duty: the switch turns it off

    presence_join(team_ids=[team.pk], user_id=bob.pk, connection_id="bob-tab")
    assert f'data-uncovered-team="{team.pk}" hidden' in client.get(QUEUE).content.decode()

    client.post(reverse("console:on_duty"), {"on_duty": "false", "next": QUEUE})
    page = client.get(QUEUE).content.decode()
    assert '<input type="hidden" name="on_duty" value="true">' in page
    assert ">Off duty</button>" in page


def test_an_assigned_escalation_says_to_whom_until_someone_claims_it(
    client, ana, bob, agent, make_escalation
):
    agent.default_assignee = bob
    agent.save()
    escalation = make_escalation(agent)
    client.force_login(ana)

    assert "assigned to bob" in client.get(QUEUE).content.decode()

    services.claim(escalation_id=escalation.pk, user=ana)
    page = client.get(QUEUE).content.decode()
    assert "assigned to bob" not in page
    assert "<strong>you</strong>" in page


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "<1 min"), (59, "<1 min"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"), (3660, "1 h 1 min"),
     (86400, "1 d"), (90000, "1 d 1 h"), (-120, "<1 min")],
)  # fmt: skip
def test_durations_are_compact(seconds, shown):
    from supervisors.templatetags.console import age

    assert age(T0, T0 + dt.timedelta(seconds=seconds)) == shown


def test_the_counts_are_shared_until_the_next_event_and_follow_every_event(
    client, ana, agent, make_escalation
):
    make_escalation(agent, severity="critical")
    client.force_login(ana)
    assert client.get(QUEUE).context["unanswered"] == 1

    with CaptureQueriesContext(connection) as queries:
        assert client.get(QUEUE).context["unanswered"] == 1
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]  # from the cache

    second = make_escalation(agent, severity="info")  # an event: the next render counts again
    response = client.get(QUEUE)
    assert response.context["unanswered"] == 2
    assert dict((s, n) for s, _, n in response.context["counts"]) == {"critical": 1, "warning": 0, "info": 1}

    services.dismiss(escalation_id=second.pk, user=ana)
    assert client.get(QUEUE).context["unanswered"] == 1


def test_unclaimed_rows_offer_a_claim_button_and_non_blocking_ones_say_notify_only(
    client, ana, bob, agent, make_escalation
):
    waiting = make_escalation(agent, reason="Blocking one")
    notify_only = make_escalation(agent, reason="Just so you know", blocking=False)
    held = make_escalation(agent, reason="Held by bob")
    services.claim(escalation_id=held.pk, user=bob)
    client.force_login(ana)

    response = client.get(QUEUE)

    rows = {row["pk"]: row for row in response.context["rows"]}
    assert {pk for pk, row in rows.items() if row["claimable"]} == {waiting.pk, notify_only.pk}
    assert {pk for pk, row in rows.items() if row["notify_only"]} == {notify_only.pk}
    page = response.content.decode()
    claim_url = reverse("console:claim", args=[waiting.pk])
    assert f'<form method="post" action="{claim_url}" class="inline claim-form">' in page
    assert reverse("console:claim", args=[held.pk]) not in page
    assert page.count(">notify only</span>") == 1
    assert 'id="shortcuts-help"' in page and "js/queue_keys.js" in page

    # The row's button is the detail page's claim: it claims, then opens the escalation.
    claimed = client.post(claim_url)
    assert claimed["Location"] == reverse("console:detail", args=[waiting.pk])
    waiting.refresh_from_db()
    assert waiting.claimed_by == ana
