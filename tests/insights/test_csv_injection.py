"""CSV exports: a name that looks like a formula reaches the spreadsheet as text (OWASP CSV injection)."""

import csv
import io

import pytest
from django.test import Client
from django.utils import timezone

from escalation_project import csv_safe
from escalations.models import Status
from supervisors.models import Role
from tests import factories
from tests.insights.conftest import closed

URL = "/console/insights/"
FORMULA = '=HYPERLINK("http://evil.example/","x")'


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def evil_names(team, ana):
    """An agent, a rule and a supervisor named by someone who hoped for a formula."""
    agent = factories.make_agent(team, "@SUM(A1:A9)")
    rule = factories.make_rule(agent, name=FORMULA)
    eve = factories.make_user("+eve")
    factories.add_member(eve, team, Role.SUPERVISOR)
    conversation = factories.make_conversation(agent, "c-1")
    now = timezone.now()
    closed(agent, conversation, created=now, rule=rule, responder=eve)
    closed(agent, conversation, created=now, rule=rule, responder=eve,
           status=Status.DISMISSED)  # fmt: skip
    client = Client()
    client.force_login(ana)
    return client


def test_a_rule_named_like_a_formula_is_exported_as_text(evil_names):
    rows = csv_rows(evil_names.get(URL, {"format": "csv", "table": "rules"}))

    header, (rule_row,) = rows[0], rows[1:]
    row = dict(zip(header, rule_row, strict=True))
    assert row["rule"] == "'" + FORMULA
    assert row["agent"] == "'@SUM(A1:A9)"
    assert (row["count"], row["dismissed"], row["share_dismissed"]) == ("2", "1", "0.5")


def test_agent_and_supervisor_names_are_exported_as_text(evil_names):
    agents = csv_rows(evil_names.get(URL, {"format": "csv", "table": "agents"}))
    supervisors = csv_rows(evil_names.get(URL, {"format": "csv", "table": "supervisors"}))

    assert [row[0] for row in agents[1:]] == ["'@SUM(A1:A9)"]
    assert supervisors[1:] == [["'+eve", "2", "1", "1"]]


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1+1", "\r=1+1", "-3", '=HYPERLINK("http://evil.example/","x")'],
)
def test_every_formula_start_gets_a_quote(text):
    assert csv_safe.neutralised(text) == "'" + text


@pytest.mark.parametrize("value", [-3, -1.5, 0, 12, None, True, "Refunds", "a=b", " =1", "'=1"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert csv_safe.neutralised(value) is value


def test_the_writer_neutralises_text_cells_but_keeps_numbers_numbers():
    stream = io.StringIO()
    csv_safe.writer(stream).writerows([["=1+1", -3, -1.5, "-3", "Refunds"], ["@x", None]])

    assert stream.getvalue().splitlines() == ["'=1+1,-3,-1.5,'-3,Refunds", "'@x,"]
