"""The API's one request parser: JSON, without the NUL character anywhere in it."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class ApiJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        # PostgreSQL cannot store NUL in text or jsonb: "\u0000" in a JSON field (metadata, rule
        # parameters, a rule test's messages) was a 500 there. Text fields refused it already.
        if _has_nul(data):
            raise ParseError("Text may not contain the NUL character (\\u0000).")
        return data
