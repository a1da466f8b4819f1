"""The console's keyset cursors (`?after=`): its own are followed, anything else starts at page one.

An edited cursor put text where an id goes, or a time without a zone, into the
page's filter: a 500. They are signed per ordering now (escalation_project/keyset.py).
"""

import base64
import json

import pytest

from escalation_project import keyset
from escalations.models import Escalation
from tests import factories


def crafted(values) -> str:
    """A cursor in the console's old, unsigned format."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = [
    crafted([{"t": "2020-01-01T00:00:00"}, "abc"]),  # newest: a naive time, text for the id
    crafted(["abc", {"t": "2020-01-01T00:00:00+00:00"}, "abc"]),  # severity
    crafted([{"t": "2020-01-01T00:00:00+00:00"}, "x", "y"]),  # audit
    crafted([1, 2]),
    "%%%%",
    "garbage:signature",
]


@pytest.fixture
def console(client, ana, agent):
    for number in range(3):
        factories.open_escalation(factories.make_conversation(agent, f"chat-{number}"))
    client.force_login(ana)
    return client


@pytest.mark.parametrize(
    "page", ["/console/", "/console/?sort=newest", "/console/?sort=due", "/console/history/"]
)
def test_a_cursor_the_console_did_not_hand_out_shows_the_first_page(console, page, monkeypatch):
    first = console.get(page)
    assert first.status_code == 200
    joiner = "&" if "?" in page else "?"
    for cursor in BAD_CURSORS:
        response = console.get(f"{page}{joiner}after={cursor}")
        assert response.status_code == 200, (page, cursor)


def test_the_audit_log_ignores_a_cursor_it_did_not_hand_out(console):
    for cursor in BAD_CURSORS:
        assert console.get(f"/console/audit/?after={cursor}").status_code == 200, cursor


def test_the_queues_own_cursor_is_followed_to_the_next_page(console, monkeypatch):
    monkeypatch.setattr("supervisors.views.PAGE_SIZE", 1)
    first = console.get("/console/?sort=newest")
    cursor = first.context["page"].next_cursor
    second = console.get(f"/console/?sort=newest&after={cursor}")
    assert [row.pk for row in second.context["page"].rows] != [row.pk for row in first.context["page"].rows]


def test_a_cursor_of_another_ordering_starts_at_the_first_page(db, agent):
    for number in range(3):
        factories.open_escalation(factories.make_conversation(agent, f"chat-{number}"))
    rows = Escalation.objects.all()
    newest = [("created_at", True), ("id", True)]
    oldest = [("created_at", False), ("id", False)]
    page = keyset.paginate(rows, keys=newest, cursor=None, size=1)
    assert keyset.paginate(rows, keys=newest, cursor=page.next_cursor, size=1).rows != page.rows
    first_oldest = keyset.paginate(rows, keys=oldest, cursor=None, size=1).rows
    assert keyset.paginate(rows, keys=oldest, cursor=page.next_cursor, size=1).rows == first_oldest
