"""The escalations' refusals (see escalation_project.errors.DomainError)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from escalation_project.errors import DomainError

if TYPE_CHECKING:
    from escalations.models import Escalation


class EscalationError(DomainError):
    """A refused action on an escalation (HTTP 409 unless a subclass says otherwise)."""

    def __init__(self, message: str, *, escalation: Escalation | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.escalation = escalation


class TransitionRefused(EscalationError):
    """The escalation is not in a state that allows this (HTTP 409).

    `code` says why: already_resolved, already_dismissed, already_withdrawn,
    already_claimed, claimed_by_another or not_claimed.
    """

    code = "conflict"


class NotAllowed(EscalationError):
    """This user or agent may not do this to this escalation (HTTP 403)."""

    code = "forbidden"
    http_status = 403


class EscalationDisabled(EscalationError):
    code = "escalation_disabled"
