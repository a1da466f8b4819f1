"""Keyset ("seek") pagination for server-rendered lists.

The next page starts after the last row seen, so a page costs the same on
row 50 as on row 100,000: no OFFSET, and no COUNT(*) over the whole table.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.core.signing import BadSignature, Signer
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

# (field or annotation name, descending). The last key must be unique (the id).
Keys = list[tuple[str, bool]]


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


def paginate(queryset: QuerySet, *, keys: Keys, cursor: str | None, size: int) -> Page:
    """One query: the rows after `cursor` in `keys` order, plus one to know if a next page exists.

    A cursor this ordering did not hand out (edited by hand, or from another ordering)
    starts at the first page.
    """
    queryset = queryset.order_by(*[f"{'-' if descending else ''}{name}" for name, descending in keys])
    values = _decode(cursor, keys)
    if values is not None:
        queryset = queryset.filter(_after(keys, values))
    rows = list(queryset[: size + 1])
    if len(rows) <= size:
        return Page(rows, None)
    rows = rows[:size]
    return Page(rows, _encode(keys, [getattr(rows[-1], name) for name, _ in keys]))


def _after(keys: Keys, values: list[Any]) -> Q:
    # (k1, k2, k3) > (v1, v2, v3) spelled out, since row-value comparison
    # cannot mix ascending and descending keys.
    name, descending = keys[-1]
    condition = Q(**{f"{name}__{'lt' if descending else 'gt'}": values[-1]})
    for (name, descending), value in zip(reversed(keys[:-1]), reversed(values[:-1]), strict=True):
        condition = Q(**{f"{name}__{'lt' if descending else 'gt'}": value}) | (Q(**{name: value}) & condition)
    return condition


def _signer(keys: Keys) -> Signer:
    # Signed, so that only values this ordering wrote reach its filter: an edited cursor put
    # text where an id goes, or a time without a zone (a 500), and one of another ordering
    # compared the wrong columns.
    return Signer(salt=f"keyset:{','.join(('-' if descending else '') + name for name, descending in keys)}")


def _encode(keys: Keys, values: list[Any]) -> str:
    plain = [{"t": value.isoformat()} if isinstance(value, dt.datetime) else value for value in values]
    encoded = base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")
    return _signer(keys).sign(encoded)


def _decode(cursor: str | None, keys: Keys) -> list[Any] | None:
    if not cursor:
        return None
    try:
        encoded = _signer(keys).unsign(cursor)
        plain = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (BadSignature, ValueError, binascii.Error):
        return None
    if not isinstance(plain, list) or len(plain) != len(keys):
        return None
    values: list[Any] = []
    for item in plain:
        if isinstance(item, dict):
            moment = parse_datetime(str(item.get("t", "")))
            if moment is None:
                return None
            values.append(moment)
        elif isinstance(item, int | str) or item is None:
            values.append(item)
        else:
            return None
    return values


def after_cursor(keys: Keys, cursor: str | None) -> Q | None:
    """The condition "after this cursor" for a queryset `paginate` cannot take whole (e.g. one
    part of a UNION, each part filtered before the union); None: from the first row."""
    values = _decode(cursor, keys)
    return None if values is None else _after(keys, values)


def cursor_after(row: Any, keys: Keys) -> str:
    """The cursor of the page that starts after `row` (an object or a dict)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return _encode(keys, [get(name) for name, _ in keys])
