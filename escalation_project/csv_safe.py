"""CSV that a spreadsheet opens as data: every CSV the product writes goes through `writer`.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and, in some,
tab or CR before one of those) as a formula, so a rule named
`=HYPERLINK("http://evil.example/","x")` would become a live link, or worse,
on the supervisor's machine. OWASP's advice: put a single quote before such a
text cell, which the spreadsheet shows as text. Only text is touched: a number
the code writes as a number (-3, -1.5) stays a number a spreadsheet can sum.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def neutralised(value: Any) -> Any:
    """The value, with a `'` before text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer's writerow/writerows, each cell passed through `neutralised`."""

    def __init__(self, stream: _Writable, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralised(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream: _Writable, **options: Any) -> SafeWriter:
    return SafeWriter(stream, **options)
