"""Request and response shapes. Output reuses the event payload, so the API,
the websocket and webhooks describe an escalation the same way."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.models import Channel, Conversation, MessageRole
from escalation_project.api import strict_fields as strict
from escalation_project.api.auth import calling_agent
from escalations.choices import Severity, TimeoutPolicy, Urgency
from escalations.models import Escalation, Event, Status, Verb
from escalations.payloads import escalation_payload
from escalations.selectors import allowed_verbs

# What the waiting agent does next, per final status.
OUTCOMES = {Status.RESOLVED: "resumed", Status.DISMISSED: "dismissed", Status.WITHDRAWN: "withdrawn"}


def escalation_body(escalation: Escalation, *, user: Any = None, agent: Any = None) -> dict[str, Any]:
    """The escalation as the API shows it to this person or agent (`allowed_verbs` is theirs)."""
    body = escalation_payload(escalation)
    body["resolution"] = None
    if escalation.status in OUTCOMES:
        body["resolution"] = {
            "outcome": OUTCOMES[Status(escalation.status)],
            "guidance": escalation.guidance,
            "note": escalation.closing_note,
            "responder": escalation.responder.get_username() if escalation.responder else None,
            "at": escalation.closed_at.isoformat() if escalation.closed_at else None,
            "automatic": escalation.closed_automatically,
        }
    # The same rules as the services' and the console's buttons (escalations.transitions).
    body["allowed_verbs"] = [verb.value for verb in allowed_verbs(escalation, user, agent=agent)]
    return body


def caller(request: Any) -> dict[str, Any]:
    """The keyword arguments of escalation_body for this request's caller."""
    agent = calling_agent(request)
    return {"agent": agent, "user": None if agent else request.user}


class _Ref(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False)


class ResolutionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["resumed", "dismissed", "withdrawn"])
    guidance = serializers.CharField(help_text="The human's answer: resume with it.")
    note = serializers.CharField(help_text="Why it was dismissed or withdrawn.")
    responder = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    automatic = serializers.BooleanField(help_text="Closed by its timeout policy, not by a person.")


class EscalationSerializer(serializers.Serializer):
    """Read-only: the event payload (version 1) plus `resolution` (null until final).

    The fields are declared for the OpenAPI schema; the body itself is
    escalation_body, shared with the long-poll.
    """

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    reason = serializers.CharField()
    topic = serializers.CharField()
    area = serializers.CharField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    origin = serializers.CharField()
    blocking = serializers.BooleanField()
    agent = _Ref()
    team = _Ref()
    conversation = _Ref()
    rule = _Ref(allow_null=True)
    evidence = serializers.ListField(child=serializers.DictField())
    assigned_to = serializers.CharField(allow_null=True)
    claimed_by = serializers.CharField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    responder = serializers.CharField(allow_null=True)
    guidance = serializers.CharField()
    closing_note = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_automatically = serializers.BooleanField()
    timeout_policy = serializers.ChoiceField(choices=TimeoutPolicy.choices)
    timeout_at = serializers.DateTimeField(allow_null=True)
    response_due_at = serializers.DateTimeField(allow_null=True)
    resolution_due_at = serializers.DateTimeField(allow_null=True)
    response_breached_at = serializers.DateTimeField(allow_null=True)
    resolution_breached_at = serializers.DateTimeField(allow_null=True)
    level = serializers.IntegerField(help_text="The team's escalation ladder level reached (0: none yet).")
    needed = serializers.BooleanField(
        allow_null=True, help_text="A supervisor's verdict: was a human needed? Null until marked."
    )
    marked_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    resolution = ResolutionSerializer(allow_null=True)
    allowed_verbs = serializers.ListField(
        child=serializers.ChoiceField(choices=Verb.choices),
        help_text="What the caller may do to it now: a person's claim, release, extend, respond, "
        "dismiss; an agent's withdraw.",
    )

    def to_representation(self, instance: Escalation) -> dict[str, Any]:
        return escalation_body(instance, **caller(self.context["request"]))


class EscalateSerializer(serializers.Serializer):
    """The escalate_to_human tool call."""

    conversation = strict.StrictCharField(
        required=False,
        max_length=200,
        help_text="The agent's own conversation id (external_id); the conversation is made if missing.",
    )
    conversation_id = strict.StrictIntegerField(
        required=False, help_text="Or our id of an existing conversation of this agent."
    )
    channel = strict.StrictChoiceField(
        choices=Channel.choices, default=Channel.API, help_text="Only used when the conversation is made."
    )
    reason = strict.StrictCharField(max_length=500)
    severity = strict.StrictChoiceField(choices=Severity.choices)
    urgency = strict.StrictChoiceField(choices=Urgency.choices, required=False)
    topic = strict.StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    area = strict.StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    blocking = strict.StrictBooleanField(default=True)
    timeout_policy = strict.StrictChoiceField(
        choices=TimeoutPolicy.choices,
        required=False,
        help_text="If still unanswered at the resolution target; default: the agent's policy.",
    )
    context = strict.StrictCharField(
        max_length=5000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The facts the person needs (amounts, order ids, what they said): shown on the card.",
    )

    # What validate() says, in the schema: exactly one of the two.
    request_schema = {"oneOf": [{"required": ["conversation"]}, {"required": ["conversation_id"]}]}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("conversation" in attrs) == ("conversation_id" in attrs):
            raise serializers.ValidationError(
                {"conversation": "Give either conversation (your external id) or conversation_id, not both."}
            )
        return attrs


class WithdrawSerializer(serializers.Serializer):
    reason = strict.StrictCharField(required=False, allow_blank=True, default="", max_length=1000)


class NoInputSerializer(serializers.Serializer):
    """An action without a body (any fields sent are ignored)."""


class ReasonSerializer(serializers.Serializer):
    reason = strict.StrictCharField(required=False, allow_blank=True, default="", max_length=1000)


def _needed_field(required: bool) -> strict.StrictBooleanField:
    return strict.StrictBooleanField(
        required=required,
        allow_null=not required,
        default=None if not required else serializers.empty,
        help_text="Was a human needed here? Feeds the insights and the rule suggestions.",
    )


class RespondSerializer(serializers.Serializer):
    guidance = strict.StrictCharField(max_length=10_000)
    needed = _needed_field(required=False)


class DismissSerializer(serializers.Serializer):
    note = strict.StrictCharField(required=False, allow_blank=True, default="", max_length=1000)
    needed = _needed_field(required=False)


class FeedbackSerializer(serializers.Serializer):
    needed = _needed_field(required=True)


class UrgencySerializer(ReasonSerializer):
    urgency = strict.StrictChoiceField(choices=Urgency.choices)


class WaitSerializer(strict.QuerySerializer):
    wait = serializers.IntegerField(required=False, min_value=0, default=0)

    def __init__(self, *args: Any, max_wait: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The limit is a setting, so the field is rebuilt per request rather than declared.
        self.fields["wait"] = serializers.IntegerField(
            required=False, min_value=0, max_value=max_wait, default=0
        )


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    escalation_id = serializers.IntegerField(allow_null=True)
    team_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    data = serializers.DictField(help_text="The event payload: {escalation, actor, ...}.")

    def to_representation(self, event: Event) -> dict[str, Any]:
        return {
            "id": event.id,
            "type": event.type,
            "escalation_id": event.escalation_id,
            "team_id": event.team_id,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        }


class EventPageSerializer(serializers.Serializer):
    """For the schema; the body is made by the view."""

    results = EventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass it back as `after` for the next page.")
    has_more = serializers.BooleanField()


class EventFeedQuerySerializer(strict.QuerySerializer):
    after = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class ConversationCreateSerializer(serializers.Serializer):
    external_id = strict.StrictCharField(max_length=200)
    channel = strict.StrictChoiceField(choices=Channel.choices, default=Channel.API)
    subject = strict.StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)


class ConversationSerializer(serializers.Serializer):
    """For the schema; the body is conversation_body."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    agent = _Ref()
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.CharField()
    subject = serializers.CharField()
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()
    open_escalation = EscalationSerializer(allow_null=True)


def conversation_body(
    conversation: Conversation, open_escalation: Escalation | None, *, user: Any = None, agent: Any = None
) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "external_id": conversation.external_id,
        "agent": {"id": conversation.agent_id, "slug": conversation.agent.slug},
        "channel": conversation.channel,
        "status": conversation.status,
        "subject": conversation.subject,
        "metadata": conversation.metadata,
        "created_at": conversation.created_at.isoformat(),
        "open_escalation": (
            escalation_body(open_escalation, user=user, agent=agent) if open_escalation else None
        ),
    }


class MessageCreateSerializer(serializers.Serializer):
    role = strict.StrictChoiceField(choices=MessageRole.choices)
    content = strict.StrictCharField(max_length=50_000, trim_whitespace=False)
    metadata = serializers.DictField(required=False, default=dict)


class _MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField()
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()


class _HitSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    reason = serializers.CharField()


class PostedMessageSerializer(serializers.Serializer):
    """For the schema; the body is posted_message_body."""

    message = _MessageSerializer()
    escalation = EscalationSerializer(allow_null=True)
    hits = _HitSerializer(many=True)
    paused = serializers.BooleanField(
        help_text="The conversation waits for a person (by this message's escalation or an earlier one): "
        "the agent's messages get 409 conversation_paused until the answer."
    )


def posted_message_body(posted, *, agent: Any) -> dict[str, Any]:
    """posted: agents.services.PostedMessage; `agent`: the agent that posted it."""
    message = posted.message
    return {
        "message": {
            "id": message.pk,
            "role": message.role,
            "content": message.content,
            "metadata": message.metadata,
            "created_at": message.created_at.isoformat(),
        },
        "escalation": escalation_body(posted.escalation, agent=agent) if posted.escalation else None,
        "hits": [
            {
                "rule_id": hit.rule_id,
                "rule_name": hit.rule_name,
                "kind": hit.kind,
                "severity": hit.severity,
                "reason": hit.reason,
            }
            for hit in posted.hits
        ],
        "paused": posted.paused,
    }
