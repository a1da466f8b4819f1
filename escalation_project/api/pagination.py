"""Cursor pagination: stable under inserts, and O(page) rather than O(offset) on big tables.

Cursors are signed: DRF's are base64 of the position's raw value, so an edited
one put any text into the list's ORDER BY filter (a 500 for an integer or a
naive time, a silent first page for "%%%%"). Now only a cursor this list handed
out is read; anything else is a 400 naming `cursor`.
"""

from base64 import b64decode
from urllib import parse

from django.core.signing import BadSignature, Signer
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination, _positive_int
from rest_framework.utils.urls import replace_query_param

NOT_A_CURSOR = "Not a cursor of this list: follow the `next` link of the previous page."


class ApiCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-created_at"

    def get_page_size(self, request) -> int:
        # DRF quietly serves the default page for a limit it cannot use; say what is wrong instead.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"limit": [f"A whole number from 1 to {self.max_page_size}."]})
        return size

    def _signer(self, path: str) -> Signer:
        # Per list (its path) and ordering: another list's cursor, or one from before the
        # ordering changed, is not this list's.
        return Signer(salt=f"api-cursor:{path}:{','.join(self.ordering)}")

    def encode_cursor(self, cursor: Cursor) -> str:
        url = super().encode_cursor(cursor)
        plain = parse.parse_qs(parse.urlsplit(url).query)[self.cursor_query_param][0]
        signed = self._signer(parse.urlsplit(self.base_url).path).sign(plain)
        return replace_query_param(url, self.cursor_query_param, signed)

    def decode_cursor(self, request) -> Cursor | None:
        # DRF's own reading, of the signed value; DRF answered a bad cursor with a 404, as if
        # the list did not exist.
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse.parse_qs(
                b64decode(self._signer(request.path).unsign(encoded).encode("ascii")).decode("ascii"),
                keep_blank_values=True,
            )
            offset = _positive_int(tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff)
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
        except (BadSignature, TypeError, ValueError):
            raise ValidationError({"cursor": [NOT_A_CURSOR]}) from None
        return Cursor(offset=offset, reverse=reverse, position=position)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: pass on the `next` or `previous` link's cursor "
                "(opaque and signed: any other value is a 400).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Page size (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
