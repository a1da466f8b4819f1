"""The API's one request parser: JSON that can be decoded safely and stored as it came.

Every JSON body of the API goes through here, so a refusal is a 400 `parse_error`
in the error shape before any view or serializer sees the data (escalation_project/
text_checks.py says what is refused and why).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from escalation_project.text_checks import BadJSON, loads_checked


class ApiJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"The body is not valid {encoding} text ({exc.reason}).") from None
        try:
            return loads_checked(text)
        except BadJSON as exc:
            raise ParseError(str(exc)) from None
