"""The agents' refusals (see escalation_project.errors.DomainError)."""

from __future__ import annotations

from escalation_project.errors import DomainError


class ConversationPaused(DomainError):
    """An agent message was refused because a blocking escalation waits for a human (HTTP 409)."""

    code = "conversation_paused"

    def __init__(self, message: str, *, escalation_id: int | None = None) -> None:
        super().__init__(message)
        self.escalation_id = escalation_id


class LabelInUse(DomainError):
    """A label still named by an agent or a rule (HTTP 409): deleting it would leave them
    with a value their own clean() refuses, so their next save would fail for no visible reason."""

    code = "label_in_use"
