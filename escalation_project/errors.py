"""The base of every domain error: a refusal a person can read, with a code for machines.

The apps raise subclasses from their own errors modules (escalations/errors.py,
agents/errors.py); the API's error handler (escalation_project/api/errors.py) turns
any of them into the one error shape with the status the class names, so the
plumbing needs to know no app.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refused action. `code` is for machines, the message for people, `http_status` for the API."""

    code = "refused"
    http_status = 409

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
