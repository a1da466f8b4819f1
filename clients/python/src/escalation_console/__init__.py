"""The Escalation Console's Python client: `Client` / `AsyncClient`, typed results, one error family."""

from escalation_console.client import AsyncClient, Client, __version__
from escalation_console.errors import (
    AlreadyResolved,
    AuthenticationError,
    Conflict,
    ConnectionFailed,
    ConversationPaused,
    Dismissed,
    EscalationConsoleError,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
    WaitTimedOut,
)
from escalation_console.models import Conversation, Escalation, Event, Message, PostedMessage, Resolution
from escalation_console.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AlreadyResolved",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Conversation",
    "ConversationPaused",
    "Dismissed",
    "Escalation",
    "EscalationConsoleError",
    "Event",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "Message",
    "NotFound",
    "PermissionDenied",
    "PostedMessage",
    "RateLimited",
    "Resolution",
    "ServerError",
    "ValidationError",
    "WaitTimedOut",
    "WebhookVerificationError",
    "__version__",
    "verify_webhook",
]
