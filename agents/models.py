from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from agents.rule_parameters import (
    validate_judge_configured,
    validate_parameters,
    validate_phrases,
    validate_reason_template,
)
from escalations.choices import Assignment, Severity, TimeoutPolicy, Urgency
from escalations.team_config import team_config
from supervisors.models import ApiCredential, Team


class Agent(models.Model):
    """An external bot that may hand a conversation to a human."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=100)
    # Globally unique: API keys and `create_agent_key <slug>` name an agent by it.
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(
        help_text="The agent's job description: what it does, and when it must hand over to a human.",
    )
    escalation_enabled = models.BooleanField(
        default=True, help_text="Off: rules do not fire and direct escalation calls are refused."
    )
    default_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    default_urgency = models.CharField(
        max_length=10,
        choices=Urgency.choices,
        blank=True,
        help_text="Empty: derived from severity (critical → high, warning → medium, info → low).",
    )
    default_topic = models.CharField(max_length=100, blank=True)
    default_area = models.CharField(max_length=100, blank=True)
    default_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the assignment below decides.",
    )
    assignment = models.CharField(
        max_length=20,
        blank=True,
        choices=[
            (Assignment.NONE, Assignment.NONE.label),
            (Assignment.ROUND_ROBIN, Assignment.ROUND_ROBIN.label),
        ],
        help_text="Empty: the default assignee if set, else the team's assignment policy.",
    )
    timeout_policy = models.CharField(
        max_length=20,
        choices=TimeoutPolicy.choices,
        default=TimeoutPolicy.KEEP_WAITING,
        help_text="For escalations unanswered at their resolution target; an API call may set its own.",
    )
    timeout_guidance = models.TextField(
        blank=True,
        help_text="The answer the agent resumes with under the policy 'Answer with default guidance'.",
    )
    # Bumped by every write to this agent's rules (agents.services): each
    # process caches the compiled matcher per agent and rebuilds it when the
    # stamp it compiled differs, so an edit takes effect everywhere at once.
    rules_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["rules_version"])

    class Meta:
        ordering = ["team__name", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.assignment and self.default_assignee_id:
            raise ValidationError(
                {"default_assignee": "Leave it empty when the assignment is none or round robin."}
            )
        if self.timeout_policy == TimeoutPolicy.ANSWER and not self.timeout_guidance.strip():
            raise ValidationError(
                {"timeout_guidance": "Write the guidance to answer with, or pick another policy."}
            )
        if self.team_id:
            Label.check_names(
                self.team_id,
                {
                    "default_topic": (LabelKind.TOPIC, self.default_topic),
                    "default_area": (LabelKind.AREA, self.default_area),
                },
            )


class RuleKind(models.TextChoices):
    PHRASES = "phrases", "Phrases"
    REGEX = "regex", "Pattern (regex)"
    AMOUNT = "amount", "Amount over a limit"
    ASKS_FOR_HUMAN = "asks_for_human", "Asks for a human"
    SENTIMENT = "sentiment", "Anger or frustration"
    LOOP = "loop", "Going in circles"
    INTENT = "intent", "Intent (from examples)"
    POLICY = "policy", "Policy (asks a language model)"


class AppliesTo(models.TextChoices):
    USER = "user", "User messages"
    AGENT = "agent", "Agent messages (drafts it should not send alone)"
    BOTH = "both", "Both"


class EscalationRule(models.Model):
    """When an agent must call a human, and what the escalation it opens carries."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    applies_to = models.CharField(max_length=10, choices=AppliesTo.choices, default=AppliesTo.USER)
    parameters = models.JSONField(
        default=dict, blank=True, help_text='Depends on the kind, e.g. {"phrases": ["refund"]}.'
    )
    exception_phrases = models.JSONField(
        default=list,
        blank=True,
        help_text='Phrases that stop this rule from firing, e.g. ["refund policy"].',
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    urgency = models.CharField(
        max_length=10, choices=Urgency.choices, blank=True, help_text="Empty: derived from severity."
    )
    topic = models.CharField(max_length=100, blank=True)
    area = models.CharField(max_length=100, blank=True)
    reason_template = models.CharField(
        max_length=300,
        help_text="Shown to the supervisor, e.g. “Customer asked for a refund of {amount}”.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["agent", "order", "pk"]
        indexes = [models.Index(fields=["agent", "enabled", "order"])]

    def __str__(self) -> str:
        return f"{self.agent} · {self.name}"

    def clean(self) -> None:
        validate_parameters(self.kind, self.parameters)
        if not isinstance(self.exception_phrases, list) or not all(
            isinstance(p, str) and p.strip() for p in self.exception_phrases
        ):
            raise ValidationError({"exception_phrases": "A list of non-empty strings."})
        validate_phrases("exception_phrases", self.exception_phrases)
        validate_reason_template(self.kind, self.reason_template)
        validate_judge_configured(self.kind, self.enabled)
        if self.agent_id:
            Label.check_names(
                self.agent.team_id,
                {"topic": (LabelKind.TOPIC, self.topic), "area": (LabelKind.AREA, self.area)},
            )


class Channel(models.TextChoices):
    """Where the conversation happens: the escalation's "trigger" in the console."""

    CHAT = "chat", "Chat"
    CRON = "cron", "Cron"
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"
    SLACK = "slack", "Slack"
    DISCORD = "discord", "Discord"
    EVENT = "event", "Event"
    API = "api", "API"
    # A conversation escalate_to_human opened over the MCP server (/mcp/) without one of its own.
    MCP = "mcp", "MCP"


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    AWAITING_HUMAN = "awaiting_human", "Awaiting a human"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="conversations")
    external_id = models.CharField(max_length=200, help_text="The agent's own id for this conversation.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.CHAT)
    status = models.CharField(
        max_length=20, choices=ConversationStatus.choices, default=ConversationStatus.ACTIVE
    )
    subject = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "external_id"], name="conversation_external_id_unique_per_agent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent} · {self.external_id}"


class MessageRole(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    TOOL = "tool", "Tool"
    SYSTEM = "system", "System"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    content = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class AgentApiKey(ApiCredential):
    """A bearer key an agent calls the API with. The key itself is shown once and never stored."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Where it is used, e.g. “production worker”.")

    class Meta(ApiCredential.Meta):
        verbose_name = "agent API key"

    def __str__(self) -> str:
        return f"{self.agent} · {self.name} (ak_{self.prefix}_…)"


class LabelKind(models.TextChoices):
    TOPIC = "topic", "Topic"
    AREA = "area", "Area"


class Label(models.Model):
    """A team's controlled vocabulary for topics and areas, so filters and reports stay consistent."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="labels")
    kind = models.CharField(max_length=10, choices=LabelKind.choices)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["team", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "kind", "name"], name="label_unique_per_team_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    @classmethod
    def vocabulary(cls, team_id: int) -> frozenset[tuple[str, str]]:
        """The team's (kind, name) pairs; kept until its settings stamp moves (escalations.team_config):
        every label write goes through agents.services, which moves it."""
        return team_config(
            team_id,
            "labels",
            lambda: frozenset(cls.objects.filter(team_id=team_id).values_list("kind", "name")),
        )

    @classmethod
    def check_names(cls, team_id: int, fields: dict[str, tuple[str, str]]) -> None:
        """Raise a field error for each label not in the team's vocabulary; empty values pass.

        fields maps a field name to (kind, value), e.g. {"topic": (LabelKind.TOPIC, "Refunds")}.
        A team with no labels of a kind has not set up that vocabulary yet: any value
        passes until it adds the first one, so a new team is not blocked on day one.
        """
        wanted = {(kind, value) for kind, value in fields.values() if value}
        if not wanted:
            return
        known = cls.vocabulary(team_id)
        errors = {}
        for field, (kind, value) in fields.items():
            allowed = sorted(name for k, name in known if k == kind)
            if value and allowed and value not in allowed:
                errors[field] = f"Unknown {kind} {value!r}. Allowed: {', '.join(allowed)}."
        if errors:
            raise ValidationError(errors)


class RuleTestCase(models.Model):
    """A conversation script and whether the agent's rules should escalate it: the rule bench."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rule_tests")
    name = models.CharField(max_length=100)
    messages = models.JSONField(
        help_text='The conversation, oldest first: [{"role": "user", "content": "…"}, …]. '
        "It is replayed message by message, as the API would receive it."
    )
    should_escalate = models.BooleanField(default=True)
    expected_rule = models.ForeignKey(
        EscalationRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Optional: the rule that should fire (checked only when it should escalate).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agent", "name"]

    def __str__(self) -> str:
        return f"{self.agent} · {self.name}"

    def clean(self) -> None:
        if (
            not isinstance(self.messages, list)
            or not self.messages
            or not all(
                isinstance(m, dict)
                and m.get("role") in MessageRole.values
                and isinstance(m.get("content"), str)
                and m["content"].strip()
                for m in self.messages
            )
        ):
            raise ValidationError(
                {
                    "messages": 'A non-empty list of {"role": one of '
                    f'{", ".join(MessageRole.values)}, "content": text}}.'
                }
            )
        if self.expected_rule_id and self.expected_rule.agent_id != self.agent_id:
            raise ValidationError({"expected_rule": "Pick one of this agent's rules."})


class SuggestionTarget(models.TextChoices):
    """Where a supervisor's verdict on a rule's escalation would go in the rule (agents.learning)."""

    SHOULD = "should", "Should-escalate example"
    SHOULD_NOT = "should_not", "Should-not example"
    EXCEPTION_PHRASE = "exception_phrase", "Exception phrase"


class SuggestionDecision(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    DISMISSED = "dismissed", "Dismissed"


class RuleSuggestion(models.Model):
    """A contributor's answer to a learning suggestion: one row per rule, escalation and target.

    Suggestions themselves are computed from the verdicts each time (agents.learning);
    only the answers are stored, so a dismissed one stays dismissed and an accepted one
    says who took it in (the rule's own history row records the change itself).
    """

    rule = models.ForeignKey(EscalationRule, on_delete=models.CASCADE, related_name="suggestions")
    escalation = models.ForeignKey("escalations.Escalation", on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=20, choices=SuggestionTarget.choices)
    text = models.TextField(help_text="What was proposed: the example, or the exception phrase.")
    decision = models.CharField(max_length=10, choices=SuggestionDecision.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        constraints = [
            # A second click (or a second contributor) on the same suggestion is refused, not doubled.
            models.UniqueConstraint(
                fields=["rule", "escalation", "target"], name="rule_suggestion_one_answer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} · #{self.escalation_id} {self.target}: {self.get_decision_display()}"
