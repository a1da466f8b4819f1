"""Request and response shapes of the configuration API. Validation beyond types is the
models' clean(), run by the services, so the admin and the API refuse the same things."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.engine import RuleHit
from agents.models import Agent, EscalationRule, Label, MessageRole, RuleTestCase
from agents.rule_bench import RuleTestResult
from agents.rule_parameters import PARAMETERS, REQUIRED
from agents.services import Evaluation
from escalation_project.api import strict_fields as strict
from escalation_project.api.openapi import NOT_BLANK
from supervisors.models import Role, Team

# What GET /teams/ says an agent key's role is in its own team.
AGENT_ROLE = "agent"
# The caller's role in GET /teams/ (named TeamRoleEnum in the schema: settings.SPECTACULAR_SETTINGS).
TEAM_ROLES = [*Role.values, AGENT_ROLE]


# Written as a username (or, as before, a user id); read back as the username, like every other
# user field of the API (responder, claimed_by, the ladder's notify_users).
@extend_schema_field(
    {
        "anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}],
        "nullable": True,
        "description": "A team member's username (a user id is accepted too); null: the team queue.",
    }
)
class _AssigneeField(serializers.Field):
    default_error_messages = {
        "invalid_type": "Must be a username (a JSON string) or a user id (a JSON integer).",
    }

    def get_attribute(self, instance: Agent) -> Any:
        return instance.default_assignee  # the user, for its username (select_related by the views)

    def to_representation(self, user: Any) -> str:
        return user.get_username()

    def to_internal_value(self, data: Any) -> int:
        """The user id; whether that user may be assigned is the service's check (a team member)."""
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            self.fail("invalid_type")
        if isinstance(data, int):
            return data
        user_id = get_user_model().objects.filter(username=data).values_list("pk", flat=True).first()
        # No user by that name reads like a user of another team: the service refuses both alike,
        # so a caller cannot learn who exists elsewhere. 0 is no one's id.
        return user_id if user_id is not None else 0


class AgentSerializer(strict.StrictModelSerializer):
    team = strict.StrictIntegerField(source="team_id", help_text="Fixed at creation.")
    default_assignee = _AssigneeField(source="default_assignee_id", allow_null=True, required=False)

    class Meta:
        model = Agent
        fields = [
            "id",
            "team",
            "name",
            "slug",
            "description",
            "escalation_enabled",
            "default_severity",
            "default_urgency",
            "default_topic",
            "default_area",
            "default_assignee",
            "assignment",
            "timeout_policy",
            "timeout_guidance",
            "rules_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["rules_version", "created_at", "updated_at"]


class AgentUpdateSerializer(AgentSerializer):
    # Team and slug name the agent elsewhere (keys, filters, webhook payloads): fixed once made.
    FIXED = ("team", "slug")

    # validate() refuses them, so the schema says they may not be sent at all.
    request_schema = {"properties": {name: {"not": {}} for name in FIXED}}

    class Meta(AgentSerializer.Meta):
        read_only_fields = [*AgentSerializer.Meta.read_only_fields, "team", "slug"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        fixed = {name: "Cannot be changed; make a new agent instead." for name in self.FIXED}
        given = {name: message for name, message in fixed.items() if name in self.initial_data}
        if given:
            raise serializers.ValidationError(given)
        return attrs


def _parameters_schema() -> dict[str, Any]:
    """One schema per kind, with its keys and defaults (agents.rule_parameters.PARAMETERS).

    anyOf, not oneOf: which one applies is said by the rule's `kind`, outside this object, and
    `{}` is valid for several kinds. Other keys are refused (400).
    """
    return {
        "type": "object",
        "description": "Depends on `kind`: the schema titled with that kind applies; other keys are refused.",
        "anyOf": [
            {
                "title": f"{kind} parameters",
                "type": "object",
                "properties": properties,
                # OpenAPI 3.0 (JSON Schema draft 4) wants a `required` list to be non-empty.
                **({"required": list(REQUIRED[kind])} if kind in REQUIRED else {}),
                "additionalProperties": False,
            }
            for kind, properties in PARAMETERS.items()
        ],
    }


# What EscalationRule.clean() accepts, for the schema (a JSONField documents any JSON, null too).
@extend_schema_field(_parameters_schema())
class _ParametersField(serializers.JSONField):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string", "pattern": NOT_BLANK}})
class _PhrasesField(serializers.JSONField):
    pass


class RuleSerializer(strict.StrictModelSerializer):
    parameters = _ParametersField(
        required=False, help_text='Depends on the kind, e.g. {"phrases": ["refund"]}.'
    )
    exception_phrases = _PhrasesField(required=False, help_text='e.g. ["refund policy"].')

    class Meta:
        model = EscalationRule
        fields = [
            "id",
            "agent",
            "name",
            "enabled",
            "order",
            "kind",
            "applies_to",
            "parameters",
            "exception_phrases",
            "severity",
            "urgency",
            "topic",
            "area",
            "reason_template",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["agent", "created_at", "updated_at"]


# What RuleTestCase.clean() accepts, for the schema (a JSONField documents any JSON at all).
@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"type": "string", "enum": list(MessageRole.values)},
                "content": {"type": "string", "pattern": NOT_BLANK},
            },
        },
    }
)
class _MessagesField(serializers.JSONField):
    pass


class RuleTestSerializer(strict.StrictModelSerializer):
    messages = _MessagesField(help_text='Oldest first: [{"role": "user", "content": "…"}, …].')
    expected_rule = strict.StrictPrimaryKeyRelatedField(
        queryset=EscalationRule.objects.none(), allow_null=True, required=False
    )

    class Meta:
        model = RuleTestCase
        fields = [
            "id",
            "agent",
            "name",
            "messages",
            "should_escalate",
            "expected_rule",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["agent", "created_at", "updated_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent = self.context.get("agent")
        if agent is not None:
            # Only this agent's rules: another agent's rule id reads as one that does not exist.
            self.fields["expected_rule"].queryset = agent.rules.all()


class LabelSerializer(strict.StrictModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "team", "kind", "name", "description"]
        read_only_fields = ["team"]
        validators: list[Any] = []  # the service checks uniqueness, with a message on the name


class TeamSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True, help_text="Its topics and areas.")
    role = serializers.ChoiceField(
        source="caller_role",
        choices=TEAM_ROLES,
        read_only=True,
        help_text='The caller\'s role in the team; "agent" when called with an agent key.',
    )

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "role", "labels"]


class _MessageIn(serializers.Serializer):
    role = strict.StrictChoiceField(choices=MessageRole.choices)
    content = strict.StrictCharField(max_length=50_000, trim_whitespace=False)


class EvaluateSerializer(serializers.Serializer):
    messages = _MessageIn(many=True, allow_empty=False, max_length=500)


class HitSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    urgency = serializers.CharField()
    topic = serializers.CharField()
    area = serializers.CharField()
    reason = serializers.CharField()
    evidence = serializers.ListField(
        child=serializers.DictField(), help_text="message_index points into the messages you sent."
    )


def hit_body(hit: RuleHit) -> dict[str, Any]:
    return {
        "rule_id": hit.rule_id,
        "rule_name": hit.rule_name,
        "kind": hit.kind,
        "severity": hit.severity,
        "urgency": hit.urgency,
        "topic": hit.topic,
        "area": hit.area,
        "reason": hit.reason,
        "evidence": hit.evidence,
    }


class EvaluationSerializer(serializers.Serializer):
    """For the schema; the body is evaluation_body."""

    escalation_enabled = serializers.BooleanField()
    hits = HitSerializer(many=True)
    would_open = serializers.DictField(
        allow_null=True,
        help_text="What the escalation would carry: origin, rule_id, rule_name, reason, severity, "
        "urgency, topic, area, blocking, evidence. Null when nothing fires or escalation is off.",
    )
    skipped = serializers.ListField(
        child=serializers.DictField(),
        help_text="Policy rules not checked on the newest message (no judge, a timeout, an error…): "
        "rule_id, rule_name, skipped (the outcome), text (why). Empty when every rule ran.",
    )


def evaluation_body(agent: Agent, evaluation: Evaluation) -> dict[str, Any]:
    return {
        "escalation_enabled": agent.escalation_enabled,
        "hits": [hit_body(hit) for hit in evaluation.hits],
        "would_open": evaluation.would_open,
        "skipped": evaluation.skipped,
    }


class _TestResultSerializer(serializers.Serializer):
    test = serializers.DictField(help_text="{id, name}")
    passed = serializers.BooleanField()
    problem = serializers.CharField()
    fired_at = serializers.IntegerField(allow_null=True, help_text="Index of the message that fired.")
    fired_rules = serializers.ListField(child=serializers.CharField())
    hits = HitSerializer(many=True)


class _SummarySerializer(serializers.Serializer):
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()


class RuleTestRunSerializer(serializers.Serializer):
    """For the schema; the body is rule_test_run_body."""

    summary = _SummarySerializer()
    results = _TestResultSerializer(many=True)


def rule_test_run_body(results: list[RuleTestResult]) -> dict[str, Any]:
    passed = sum(1 for result in results if result.passed)
    return {
        "summary": {"passed": passed, "failed": len(results) - passed},
        "results": [
            {
                "test": {"id": result.case.pk, "name": result.case.name},
                "passed": result.passed,
                "problem": result.problem,
                "fired_at": result.fired_at,
                "fired_rules": result.fired_rules,
                "hits": [hit_body(hit) for hit in result.hits],
            }
            for result in results
        ],
    }
