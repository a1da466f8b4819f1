"""Text normalisation and the phrase syntax shared by every phrase-based rule kind.

- Matching is on *normalised* text: NFKD, casefold, combining marks dropped —
  so "Réfund", "REFUND" and "refund" are the same word, "ﬁne" is "fine".
- How a phrase matches words (whole words, inflections, gaps, typos,
  negation, a trailing `*` for prefixes) is agents.engine.words, documented
  for admins in docs/admins/matching.md.
Positions in hits are given in the original text (see `OffsetMap`).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import re2


@cache
def _marks_table() -> dict[int, None]:
    # str.translate with this table strips marks in C; a Python loop per
    # character would cost more than the whole multi-pattern match.
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))}


def normalise(text: str) -> str:
    """Casefold + NFKD without combining marks. Same length as `text` for ASCII."""
    if text.isascii():
        return text.lower()  # casefold == lower on ASCII, and 5x cheaper than the general path
    return _normalise_general(text)


def _normalise_general(text: str) -> str:
    # NFKD first so compatibility forms (ℌ, ﬁ) fold too; NFKD again because
    # casefolding can produce characters that decompose further.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return folded.translate(_marks_table())


class OffsetMap:
    """Maps a span of `normalise(text)` back to the span of `text` it came from.

    Built only when a rule fires (per-character work), never on the hot path.
    Per-character normalisation concatenates to the whole-string result because
    NFKD only decomposes, casefold is context-free, and the only reordering
    NFKD does is among combining marks, which are dropped.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.identity = text.isascii()
        self.origin: list[int] = []
        if not self.identity:
            for index, char in enumerate(text):
                self.origin.extend([index] * len(_normalise_general(char)))

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.identity:
            return start, end
        if not self.origin:
            return 0, 0
        start = min(start, len(self.origin) - 1)
        end = max(min(end, len(self.origin)), start + 1)
        return self.origin[start], self.origin[end - 1] + 1


def phrase_problem(phrase: str) -> str | None:
    """Why this phrase can never work as written, or None when it is fine."""
    stripped = phrase.strip()
    if not stripped:
        return "is empty"
    if "*" in stripped.rstrip("*") or stripped.endswith("**"):
        return "may only have one `*`, at its end (for word prefixes, e.g. refund*)"
    if not any(char.isalnum() for char in normalise(stripped.rstrip("*"))):
        return "needs at least one letter or digit"
    return None


@dataclass(frozen=True)
class WordPattern:
    """A pattern that must start and end on word boundaries (letters and digits of any script)."""

    body: str  # Python `re` syntax
    prefix: bool = False  # the last word may continue: refund* matches "refunded"

    def find(self, text: str) -> tuple[int, int] | None:
        for match in _compiled(self.body).finditer(text):
            start, end = match.span()
            if start > 0 and text[start - 1].isalnum():
                continue
            if self.prefix:
                while end < len(text) and text[end].isalnum():
                    end += 1
            elif end < len(text) and text[end].isalnum():
                continue
            return start, end
        return None


@lru_cache(maxsize=65536)
def _compiled(body: str) -> re.Pattern[str]:
    return re.compile(body)


def re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # errors become ValidationErrors / log records, not stderr noise
    # Thousands of patterns in one Set need more than the 8 MiB default.
    options.max_mem = 64 << 20
    return options


def re2_error_text(error: Exception) -> str:
    message = error.args[0] if error.args else str(error)
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def excerpt(text: str, start: int, end: int, *, limit: int = 200) -> str:
    snippet = text[start:end]
    return snippet if len(snippet) <= limit else snippet[: limit - 1] + "…"
