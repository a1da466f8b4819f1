"""The SQL statements of the hot requests, pinned: a create (an agent's escalate_to_human on a new
conversation), a quiet message (fires no rule) and a message that opens an escalation, each with
the team having no webhook endpoint and with one. A statement added to any of them fails here;
if it is worth its cost, raise the figure here and say why in the commit.

What is left is what the transaction needs: the agent key's check (one query, so a revoked key is
refused at once; it also brings the agent's rules stamp and its team's settings stamp), the rows
written, and the reads a message's rules and an opening need under the conversation's lock. The
agent's matcher and the team's configuration (targets, hours, policy, ladder, labels, webhook
endpoints) come from the process's copies, kept under those stamps (escalations.team_config).

Counts are as a test sees them: inside the test's transaction every atomic block is a SAVEPOINT
and a RELEASE (in production: BEGIN and COMMIT, the same two).
"""

import pytest
from django.db import connection

from agents.services import label_create
from escalations.models import Escalation
from tests import factories
from tests.api.conftest import agent_client
from webhooks.models import Delivery
from webhooks.services import endpoint_create

CREATE_URL = "/api/v1/escalations/"

# PostgreSQL takes the advisory lock that keeps event ids in commit order before the event's
# INSERT (escalations/outbox.py); SQLite's IMMEDIATE transaction already serialises writers.
EVENT_ORDER_LOCK = 1 if connection.vendor == "postgresql" else 0

# The key check, SAVEPOINT, INSERT conversation (made awaiting the human), INSERT escalation,
# INSERT its history row, INSERT event, RELEASE.
CREATE = 7 + EVENT_ORDER_LOCK
# The key check, SAVEPOINT, the agent's conversation locked (with its agent and team: the
# one read of it, which also refuses another agent's), INSERT message, the rules' window of
# history, RELEASE.
QUIET_MESSAGE = 6
# A quiet message's, then: the conversation's active escalation (none), INSERT escalation,
# INSERT history, UPDATE the conversation to awaiting_human, INSERT event.
OPENING_MESSAGE = QUIET_MESSAGE + 5 + EVENT_ORDER_LOCK
# With an endpoint: the Delivery row, in one INSERT however many endpoints want the event.
DELIVERY = 1


@pytest.fixture(autouse=True)
def kept(settings):
    # The test settings read the configuration afresh each time (TEAM_CONFIG_KEPT=False) so that
    # tests changing rows by hand see their changes; production keeps it, and so do these.
    settings.TEAM_CONFIG_KEPT = True
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


@pytest.fixture(params=["no endpoint", "one endpoint"])
def endpoints(request, ours) -> int:
    """How many webhook endpoints the team has (made before the warm-up, as they would be)."""
    if request.param == "one endpoint":
        endpoint_create(team=ours.team, url="http://127.0.0.1:9/hook")
        return 1
    return 0


@pytest.fixture
def api(ours, endpoints):
    factories.make_rule(ours.agent)  # "refund" opens an escalation
    client = agent_client(ours.agent_key)
    # Warm, as a running server is: the key's last use written (once a minute), the matcher
    # compiled, the team's configuration read for the urgencies used below.
    for number, severity in enumerate(["info", "warning"]):
        warm = {"conversation": f"warm-{number}", "reason": "warm", "severity": severity}
        assert client.post(CREATE_URL, warm, format="json").status_code == 201
    warm_conversation = factories.make_conversation(ours.agent, "warm-messages")
    warm = {"role": "user", "content": "hello"}
    assert client.post(messages_url(warm_conversation), warm, format="json").status_code == 201
    return client


def messages_url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/"


def test_a_create_on_a_new_conversation(api, endpoints, django_assert_num_queries):
    with django_assert_num_queries(CREATE + DELIVERY * endpoints):
        response = api.post(
            CREATE_URL,
            {"conversation": "new-1", "reason": "Refund of $500", "severity": "info"},
            format="json",
        )
    assert response.status_code == 201, response.data
    assert Delivery.objects.filter(event__escalation_id=response.data["id"]).count() == endpoints


def test_a_quiet_message(api, ours, endpoints, django_assert_num_queries):
    url = messages_url(ours.conversation)
    with django_assert_num_queries(QUIET_MESSAGE):
        response = api.post(url, {"role": "user", "content": "Where is my parcel?"}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["escalation"] is None


def test_a_message_that_opens_an_escalation(api, ours, endpoints, django_assert_num_queries):
    url = messages_url(ours.conversation)
    with django_assert_num_queries(OPENING_MESSAGE + DELIVERY * endpoints):
        response = api.post(url, {"role": "user", "content": "I want a refund"}, format="json")
    assert response.status_code == 201, response.data
    escalation = Escalation.objects.get(pk=response.data["escalation"]["id"])
    assert escalation.rule.name == "Refunds"
    assert Delivery.objects.filter(event__escalation=escalation).count() == endpoints


def test_a_create_with_a_topic_checks_it_against_the_kept_labels(
    api, ours, endpoints, django_assert_num_queries
):
    label_create(team=ours.team, kind="topic", name="refunds")
    body = {"conversation": "new-2", "reason": "Refund", "severity": "info", "topic": "refunds"}
    api.post(CREATE_URL, {**body, "conversation": "warm-labels"}, format="json")  # reads the labels

    with django_assert_num_queries(CREATE + DELIVERY * endpoints):
        assert api.post(CREATE_URL, body, format="json").status_code == 201
