"""One exception family for the API's refusals: {"error": {"code", "message", "fields"?}}.

The class is chosen by the API's error code first (stable, machine-readable),
then by the HTTP status, so a code this client does not know yet still lands
on a sensible class.
"""

from __future__ import annotations

from typing import Any


class EscalationConsoleError(Exception):
    """The API refused a request. `status` is the HTTP status (0: no response), `code` the API's code."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "error",
        fields: dict[str, list[str]] | None = None,
    ):
        super().__init__(f"{status} {code}: {message}" if status else message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = fields or {}


class ValidationError(EscalationConsoleError):
    """400: `fields` maps each bad field to its messages."""


class AuthenticationError(EscalationConsoleError):
    """401: the agent key is missing, wrong or revoked."""


class PermissionDenied(EscalationConsoleError):
    """403: this agent may not do this."""


class NotFound(EscalationConsoleError):
    """404: no such object, or another team's (the API does not tell them apart)."""


class Conflict(EscalationConsoleError):
    """409: the object's state refuses the request."""


class ConversationPaused(Conflict):
    """409 conversation_paused: a blocking escalation waits for a human; wait for its answer first."""


class AlreadyResolved(Conflict):
    """409 already_resolved, already_dismissed or already_withdrawn: the escalation is final."""


class IdempotencyKeyInFlight(Conflict):
    """409: the first request with this Idempotency-Key is still running (retried by the client)."""


class IdempotencyKeyReused(EscalationConsoleError):
    """422: this Idempotency-Key was used with another request body."""


class RateLimited(EscalationConsoleError):
    """429 after the client's retries: `retry_after` is the server's Retry-After, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(EscalationConsoleError):
    """5xx: the server failed or is unavailable."""


class ConnectionFailed(EscalationConsoleError):
    """No answer: the server could not be reached or did not answer in time (after safe retries)."""


class Dismissed(EscalationConsoleError):
    """require_human: the person dismissed (or the agent withdrew) the escalation; the function did not run.

    `resolution` is the typed Resolution, with the person's note.
    """

    def __init__(self, message: str, *, resolution: Any):
        super().__init__(message, code=resolution.outcome)
        self.resolution = resolution


class WaitTimedOut(EscalationConsoleError, TimeoutError):
    """wait(timeout=…) ran out before the escalation became final; it is still open on the server."""

    def __init__(self, message: str, *, escalation_id: int):
        super().__init__(message, code="wait_timed_out")
        self.escalation_id = escalation_id


_BY_CODE: dict[str, type[EscalationConsoleError]] = {
    "invalid": ValidationError,
    "conversation_paused": ConversationPaused,
    "already_resolved": AlreadyResolved,
    "already_dismissed": AlreadyResolved,
    "already_withdrawn": AlreadyResolved,
    "idempotency_key_in_flight": IdempotencyKeyInFlight,
    "idempotency_key_reused": IdempotencyKeyReused,
}
_BY_STATUS: dict[int, type[EscalationConsoleError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form is not sent by this API, so it reads as unknown."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(status: int, body: Any, headers: Any) -> EscalationConsoleError:
    """The exception for an HTTP error response (`body`: the decoded JSON, or None)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or ("server_error" if status >= 500 else "error"))
    message = str(error.get("message") or f"HTTP {status}")
    fields = error.get("fields") if isinstance(error.get("fields"), dict) else None
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or (ServerError if status >= 500 else None)
    cls = cls or EscalationConsoleError
    if cls is RateLimited:
        return RateLimited(
            message,
            retry_after=retry_after_seconds(headers.get("Retry-After")),
            status=status,
            code=code,
            fields=fields,
        )
    return cls(message, status=status, code=code, fields=fields)
