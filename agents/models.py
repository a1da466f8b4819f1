from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from agents.rule_parameters import validate_parameters, validate_phrases, validate_reason_template
from escalations.choices import Severity, Urgency
from supervisors.models import Team


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
        help_text="Empty: escalations go to the team queue.",
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


class RuleKind(models.TextChoices):
    PHRASES = "phrases", "Phrases"
    REGEX = "regex", "Pattern (regex)"
    AMOUNT = "amount", "Amount over a limit"
    ASKS_FOR_HUMAN = "asks_for_human", "Asks for a human"
    SENTIMENT = "sentiment", "Anger or frustration"
    LOOP = "loop", "Going in circles"


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


class AgentApiKey(models.Model):
    """A bearer key an agent calls the API with. The key itself is shown once and never stored."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Where it is used, e.g. “production worker”.")
    # Unique and indexed: the request's key names its row without a scan.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    # sha256 of the whole key (see escalation_project.api.secrets for why a fast hash).
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "agent API key"

    def __str__(self) -> str:
        return f"{self.agent} · {self.name} (ak_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
