"""The error responses of the OpenAPI schema (DEFAULT_SCHEMA_CLASS is ApiAutoSchema).

Every operation under /api/v1/ documents the errors it can answer with, in
the one error shape (escalation_project.api.errors): 401, 403 and 429 always;
404 where the path names an object; 400 where there is input to refuse (a
body, a query or header parameter, a path value that is not an id); 415
where there is a body. Conflicts (409) and other codes an operation has of
its own are declared on its view with error_responses(), e.g.
`@extend_schema(responses={200: X, **error_responses(409)})`.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    400: "invalid: the input is refused; `fields` says why, per field.",
    401: "The API key or token is missing, revoked or wrong.",
    403: "forbidden: these credentials may not do this.",
    404: "not_found: no such object, or another team's.",
    409: "A conflict with the object's state, e.g. already_resolved, claimed_by_another, "
    "conversation_paused, label_in_use, delivery_queued (see `code`).",
    415: "unsupported_media_type: send JSON.",
    422: "idempotency_key_reused: this Idempotency-Key was used with another request.",
    429: "throttled: too many requests; retry after the Retry-After header's seconds.",
    503: "model_unavailable: the agent has intent rules and the server cannot load their model "
    "(an installation fault; nothing was written, retry once it is fixed).",
}
ALWAYS = (401, 403, 429)

# The API refuses NUL in text (PostgreSQL cannot store it; ApiJSONParser refuses it anywhere in a
# body): every request string says so, so a client generating "valid" text leaves it out.
NO_NUL = "^[^\\u0000]*$"
# Text that may not be blank either: one character that is neither space nor NUL.
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
# A cursor is DRF's standard base64 of the position it encodes, signed (":" and the signature in
# URL-safe base64; api/pagination.py). Only one the API handed out in a `next` or `previous` link
# is valid (any other is a 400, as the README says).
CURSOR_PATTERN = "^[A-Za-z0-9+/]*={0,2}:[A-Za-z0-9_-]+$"


class _ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. invalid, already_resolved.")
    message = serializers.CharField(help_text="For people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="With code invalid: the messages per field.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: {"error": {"code", "message", "fields"?}}."""

    error = _ErrorDetailSerializer()


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


def _with_no_nul(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") != "string" or "enum" in schema or "format" in schema:
        return schema  # dates, URIs and choices have their own (NUL-free) grammar
    return schema if "pattern" in schema else {**schema, "pattern": NO_NUL}


class ApiAutoSchema(AutoSchema):
    """Documents what the API refuses, so the schema is the contract a client can generate against:

    - the error responses of every operation (above);
    - no NUL in request text (NO_NUL);
    - a list serializer's allow_empty=False and max_length as minItems and maxItems;
    - a serializer's own cross-field rules, given as `request_schema` on the serializer class (JSON
      Schema merged into its request component), e.g. "exactly one of a and b";
    - the cursor's alphabet.
    """

    def _map_serializer_field(self, field, direction, bypass_extensions=False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or getattr(field, "read_only", False):
            return schema
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            if not field.allow_empty:
                schema["minItems"] = max(schema.get("minItems", 0), 1)
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        if isinstance(field, serializers.ListField) and schema.get("type") == "array":
            schema["items"] = _with_no_nul(schema.get("items", {}))
        if any(isinstance(validator, RegexValidator) for validator in field.validators):
            return schema  # its own pattern (added after this, e.g. a slug's) is the grammar: no NUL in it
        if isinstance(field, serializers.CharField) and field.trim_whitespace and not field.allow_blank:
            # DRF trims before its blank check, so "  " is refused like "": say it in the pattern.
            if schema.get("type") == "string" and "pattern" not in schema and "format" not in schema:
                schema["pattern"] = NOT_BLANK
        return _with_no_nul(schema)

    def _map_serializer(self, serializer, direction, bypass_extensions=False) -> dict[str, Any]:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        extra = getattr(serializer, "request_schema", None)
        if direction == "request" and extra:
            extra = dict(extra)
            schema["properties"] = {**schema.get("properties", {}), **extra.pop("properties", {})}
            schema.update(extra)
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not path.startswith("/api/v1/"):
            return operation
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            if parameter["in"] == "query" and parameter["name"] == "cursor":
                parameter["schema"] = {**parameter["schema"], "pattern": CURSOR_PATTERN}
        codes = set(ALWAYS)
        if any(p["in"] == "path" for p in parameters):
            codes.add(404)
        has_input = any(
            p["in"] in ("query", "header") or p["schema"].get("type") != "integer" for p in parameters
        )
        if "requestBody" in operation or has_input:
            codes.add(400)
        if "requestBody" in operation:
            codes.add(415)
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code in sorted(codes):
            operation["responses"].setdefault(
                str(code),
                {"content": {"application/json": {"schema": error}}, "description": ERROR_DESCRIPTIONS[code]},
            )
        return operation
