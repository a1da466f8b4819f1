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
}
ALWAYS = (401, 403, 429)


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


class ApiAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not path.startswith("/api/v1/"):
            return operation
        parameters = operation.get("parameters", [])
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
