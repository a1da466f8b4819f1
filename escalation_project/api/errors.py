"""One error shape for the whole API: {"error": {"code", "message", "fields"?}}.

Domain errors from escalations.services and Django's ValidationError are
mapped here, so views just call services and let refusals propagate.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from agents.engine.intent import ModelUnavailable
from agents.services import ConversationPaused, LabelInUse
from escalations.services import EscalationDisabled, EscalationError, NotAllowed, TransitionRefused


class ApiError(exceptions.APIException):
    """Raise from a view for an error with its own code, e.g. ApiError(422, "idempotency_key_reused", "…")."""

    def __init__(self, status_code: int, code: str, message: str):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _messages(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    if isinstance(value, dict):
        return [f"{key}: {'; '.join(_messages(item))}" for key, item in value.items()]
    return [str(value)]


def _validation_response(fields: dict[str, list[str]]) -> Response:
    non_field = fields.pop("non_field_errors", None) or fields.pop("__all__", None)
    message = non_field[0] if non_field else "Some fields are not valid."
    if non_field and len(non_field) > 1:
        fields["non_field_errors"] = non_field
    return Response(error_body("invalid", message, fields or None), status=status.HTTP_400_BAD_REQUEST)


def body_too_large_message() -> str:
    """For the 413 of escalation_project/body_limits.py."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    size = f"{limit / 1024 / 1024:g} MB" if limit >= 1024 * 1024 else f"{limit / 1024:g} KB"
    return f"The request body is larger than the {size} limit."


_DEFAULT_CODES = {
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, TransitionRefused | EscalationDisabled):
        return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ConversationPaused | LabelInUse):
        return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ModelUnavailable):
        # The agent's intent rules cannot run: refuse the post (nothing is written) rather than
        # let it through unchecked. A server-side fault the client can retry, hence 503.
        return Response(error_body(exc.code, exc.message), status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, NotAllowed):
        return Response(error_body("forbidden", exc.message), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, EscalationError):
        return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return _validation_response({field: list(msgs) for field, msgs in exc.message_dict.items()})
        return _validation_response({"non_field_errors": list(exc.messages)})
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            return _validation_response({field: _messages(value) for field, value in detail.items()})
        return _validation_response({"non_field_errors": _messages(detail)})
    if isinstance(exc, Http404):
        # The same words whether the object does not exist or belongs to another team.
        return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a 500: Django's handler logs it
    if isinstance(exc, ApiError):
        code = exc.error_code
    elif response.status_code == status.HTTP_403_FORBIDDEN:
        code = "forbidden"  # one code for every refusal by permission, ours or DRF's
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        code = codes if isinstance(codes, str) else _DEFAULT_CODES.get(response.status_code, "error")
    detail = getattr(exc, "detail", None)
    message = str(detail) if detail is not None else "Error."
    response.data = error_body(code, message)
    return response
