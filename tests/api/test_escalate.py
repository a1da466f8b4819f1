"""POST /api/v1/escalations/: the escalate_to_human tool call."""

from agents.models import Conversation, ConversationStatus
from escalations.models import Escalation, Status
from tests.api.conftest import token_client

URL = "/api/v1/escalations/"


def test_a_tool_call_opens_an_escalation_on_a_new_conversation(agent_api, ours):
    response = agent_api.post(
        URL,
        {"conversation": "ext-42", "reason": "Refund of $500", "severity": "critical", "topic": "refunds"},
        format="json",
    )
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["status"] == "open"
    assert body["severity"] == "critical"
    assert body["urgency"] == "high"  # from severity
    assert body["origin"] == "tool_call"
    assert body["resolution"] is None
    conversation = Conversation.objects.get(agent=ours.agent, external_id="ext-42")
    assert conversation.channel == "api"
    assert conversation.status == ConversationStatus.AWAITING_HUMAN
    assert body["conversation"] == {"id": conversation.pk, "external_id": "ext-42"}


def test_the_agents_context_is_shown_on_the_card_as_evidence(agent_api, ours):
    response = agent_api.post(
        URL,
        {
            "conversation": "ext-43",
            "reason": "Refund?",
            "severity": "warning",
            "context": "  Order 881, late.  ",
        },
        format="json",
    )
    too_long = agent_api.post(
        URL,
        {"conversation": "ext-44", "reason": "r", "severity": "info", "context": "x" * 5001},
        format="json",
    )

    assert response.status_code == 201, response.data
    escalation = Escalation.objects.get(pk=response.json()["id"])
    assert [(item["kind"], item["text"]) for item in escalation.evidence] == [("context", "Order 881, late.")]
    assert too_long.status_code == 400
    assert set(too_long.json()["error"]["fields"]) == {"context"}


def test_a_second_call_on_the_same_conversation_is_merged_with_200(agent_api, ours):
    first = agent_api.post(URL, {"conversation_id": ours.conversation.pk, "reason": "a", "severity": "info"})
    second = agent_api.post(
        URL, {"conversation": ours.conversation.external_id, "reason": "worse", "severity": "critical"}
    )
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["severity"] == "critical"
    assert Escalation.objects.count() == 1


def test_a_non_blocking_call_leaves_the_conversation_active(agent_api, ours):
    response = agent_api.post(
        URL, {"conversation_id": ours.conversation.pk, "reason": "fyi", "severity": "info", "blocking": False}
    )
    assert response.status_code == 201
    ours.conversation.refresh_from_db()
    assert ours.conversation.status == ConversationStatus.ACTIVE


def test_bad_fields_get_400_with_a_message_per_field(agent_api):
    response = agent_api.post(URL, {"conversation": "x", "severity": "apocalyptic"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"reason", "severity"}


def test_giving_both_or_neither_conversation_field_is_a_field_error(agent_api, ours):
    neither = agent_api.post(URL, {"reason": "r", "severity": "info"})
    both = agent_api.post(
        URL, {"conversation": "x", "conversation_id": ours.conversation.pk, "reason": "r", "severity": "info"}
    )
    assert neither.status_code == both.status_code == 400
    assert "conversation" in neither.json()["error"]["fields"]


def test_a_blank_reason_is_a_field_error_from_the_service(agent_api):
    response = agent_api.post(URL, {"conversation": "x", "reason": "   ", "severity": "info"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]


def test_another_agents_conversation_id_is_an_unknown_conversation(agent_api, theirs):
    response = agent_api.post(
        URL, {"conversation_id": theirs.conversation.pk, "reason": "r", "severity": "info"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["conversation_id"] == [
        f"There is no conversation {theirs.conversation.pk}."
    ]
    assert not Escalation.objects.exists()


def test_a_disabled_agent_gets_409_escalation_disabled_and_no_conversation_is_left(agent_api, ours):
    ours.agent.escalation_enabled = False
    ours.agent.save()
    response = agent_api.post(URL, {"conversation": "new-one", "reason": "r", "severity": "info"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "escalation_disabled"
    assert not Conversation.objects.filter(external_id="new-one").exists()


def test_a_supervisor_cannot_call_the_tool(ours):
    response = token_client(ours.supervisor_token).post(
        URL, {"conversation": "x", "reason": "r", "severity": "info"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert Escalation.objects.filter(status=Status.OPEN).count() == 0


def test_an_external_conversation_id_sent_as_a_number_is_refused(agent_api, ours):
    # Found by the schema fuzzing (PostgreSQL run): DRF made 42 into "42" and opened a conversation.
    response = agent_api.post(URL, {"conversation": 42, "reason": "a", "severity": "info"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"conversation": ["Must be text (a JSON string)."]}
