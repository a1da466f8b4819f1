"""GET /api/v1/escalations/: scoped to the caller, filtered, ordered, cursor-paginated."""

import datetime as dt

from django.utils import timezone

from escalations import services
from escalations.models import Escalation
from tests import factories
from tests.api.conftest import agent_client, token_client

URL = "/api/v1/escalations/"


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def open_some(side, *severities):
    return [
        factories.open_escalation(factories.make_conversation(side.agent), severity=severity)
        for severity in severities
    ]


def test_an_agent_lists_only_its_own_escalations(ours, theirs):
    mine = open_some(ours, "info")
    open_some(theirs, "info")
    assert ids(agent_client(ours.agent_key).get(URL)) == [mine[0].pk]


def test_a_supervisor_lists_only_their_teams(ours, theirs):
    open_some(ours, "info", "warning")
    theirs_only = open_some(theirs, "critical")
    listed = ids(token_client(ours.supervisor_token).get(URL))
    assert len(listed) == 2 and theirs_only[0].pk not in listed


def test_newest_first_by_default(supervisor_api, ours):
    first, second = open_some(ours, "info", "info")
    assert ids(supervisor_api.get(URL)) == [second.pk, first.pk]


def test_filters_by_status_severity_agent_and_team(supervisor_api, ours):
    info, critical = open_some(ours, "info", "critical")
    services.claim(escalation_id=critical.pk, user=ours.supervisor)
    assert ids(supervisor_api.get(URL, {"status": "claimed"})) == [critical.pk]
    assert ids(supervisor_api.get(URL, {"severity": ["info", "warning"]})) == [info.pk]
    assert set(ids(supervisor_api.get(URL, {"agent": ours.agent.slug}))) == {info.pk, critical.pk}
    assert ids(supervisor_api.get(URL, {"team": "nope"})) == []
    assert ids(supervisor_api.get(URL, {"channel": "email"})) == []
    assert len(ids(supervisor_api.get(URL, {"urgency": "high"}))) == 1


def test_filters_by_topic_area_and_created_range(supervisor_api, ours):
    tagged = factories.open_escalation(factories.make_conversation(ours.agent), topic="refunds", area="eu")
    open_some(ours, "info")
    assert ids(supervisor_api.get(URL, {"topic": "refunds", "area": "eu"})) == [tagged.pk]
    Escalation.objects.filter(pk=tagged.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    yesterday = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert tagged.pk not in ids(supervisor_api.get(URL, {"created_after": yesterday}))
    assert ids(supervisor_api.get(URL, {"created_before": yesterday})) == [tagged.pk]


def test_a_bad_filter_value_is_a_field_error(supervisor_api):
    response = supervisor_api.get(URL, {"status": "sleeping", "created_after": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"status", "created_after"}


def test_ordering_by_severity_puts_critical_first(supervisor_api, ours):
    info, critical, warning = open_some(ours, "info", "critical", "warning")
    assert ids(supervisor_api.get(URL, {"ordering": "-severity"})) == [critical.pk, warning.pk, info.pk]
    assert ids(supervisor_api.get(URL, {"ordering": "severity"})) == [info.pk, warning.pk, critical.pk]


def test_ordering_by_urgency_and_due(supervisor_api, ours):
    info, critical = open_some(ours, "info", "critical")
    assert ids(supervisor_api.get(URL, {"ordering": "-urgency"})) == [critical.pk, info.pk]
    assert ids(supervisor_api.get(URL, {"ordering": "due"})) == [critical.pk, info.pk]


def test_cursor_pages_walk_every_row_once(supervisor_api, ours):
    opened = open_some(ours, *["info"] * 5)
    seen, url, pages = [], URL + "?limit=2", 0
    while url:
        response = supervisor_api.get(url)
        seen += ids(response)
        url = response.json()["next"]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(e.pk for e in opened)


def test_an_empty_time_filter_is_a_field_error_not_no_filter(supervisor_api, ours):
    # Found by the schema fuzzing: django-filter read `?created_before=` as no filter at all.
    response = supervisor_api.get(URL, {"created_before": "", "status": "open"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "created_before": ["Enter a date and time (ISO 8601), or leave the parameter out."]
    }


def test_a_limit_out_of_range_or_not_a_number_is_a_field_error(supervisor_api, ours):
    # Found by the schema fuzzing: DRF served the default page for any limit it could not use. An
    # empty `?limit=` too, like the other empty parameters (?after=, ?wait=, ?status=).
    for limit in ["", "0", "201", "-3", "null", "2.5"]:
        response = supervisor_api.get(URL, {"limit": limit})
        assert response.status_code == 400, limit
        assert response.json()["error"]["fields"] == {"limit": ["A whole number from 1 to 200."]}
    assert supervisor_api.get(URL, {"limit": "200"}).status_code == 200
    assert supervisor_api.get(URL).status_code == 200  # left out: the default page


def test_a_made_up_cursor_is_a_400_naming_the_cursor(supervisor_api, ours):
    # DRF answered an unreadable cursor with a 404, as if the list did not exist.
    response = supervisor_api.get(URL, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["cursor"]


def test_a_time_filter_with_any_iso_offset_compares_in_utc(supervisor_api, ours):
    # Found by the schema fuzzing on PostgreSQL: ISO 8601 allows offsets up to ±23:59, PostgreSQL
    # only ±15:59, so `created_after=…+23:44` was a 500 there.
    escalation = factories.open_escalation(ours.conversation)
    offset = dt.timezone(dt.timedelta(hours=23, minutes=44))
    an_hour_ago = (timezone.now() - dt.timedelta(hours=1)).astimezone(offset).isoformat()
    response = supervisor_api.get(URL, {"created_after": an_hour_ago})
    assert response.status_code == 200
    assert ids(response) == [escalation.pk]
    assert ids(supervisor_api.get(URL, {"created_before": an_hour_ago})) == []
    out_of_range = supervisor_api.get(URL, {"created_after": "9999-12-31T23:59:00-23:59"})
    assert out_of_range.status_code == 400
    assert out_of_range.json()["error"]["fields"] == {
        "created_after": ["This date and time is out of range."]
    }
