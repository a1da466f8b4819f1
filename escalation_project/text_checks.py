"""Checks on text and JSON from outside, shared by the API's parser, the console socket and forms.

Two kinds of input broke things after they were accepted:
- JSON nested thousands of levels deep: Python's json decoder recurses once per
  level and raised RecursionError (a 500). The depth is measured here *before*
  decoding, by a scan that does not recurse itself.
- A lone surrogate ("\\udfff" in JSON): a Python str can hold one, UTF-8 cannot.
  On SQLite a JSON column stored it as an escape, and every later read that
  rendered it (the API, the admin) was a 500, for good. PostgreSQL's jsonb refuses
  it with a 500 at the write. It is refused here before anything is written.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Real bodies need far less: the deepest the API's own bodies nest is 4 levels (a
# rule test's messages, rule parameters' lists; bench/README.md measures it), and
# integrators' metadata rarely goes beyond 10. 32 leaves room for that and keeps
# every recursive walk (the decoder, DRF's fields, deepcopy, rendering) far below
# Python's recursion limit of 1,000.
MAX_JSON_DEPTH = 32

# A JSON string, escapes included. Unrolled as "[^"\\]*(?:\\.[^"\\]*)*" so the regex engine
# neither backtracks nor recurses on long strings.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_ONE_KIND_OF_BRACKET = str.maketrans("{}", "[]")
# The escapes \u0000 and \ud800-\udfff are the only ways NUL or a surrogate gets into decoded
# JSON (strict JSON refuses them raw). Only a body that has one (or "\\u0000", an escaped
# backslash: the exact check after decoding tells) needs its decoded strings looked at.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Naming where bad text sits walks the whole document; beyond this size the message
# says what is wrong without where, so a big body cannot make a refusal expensive.
_PATH_NAMED_UP_TO = 64 * 1024


class BadJSON(ValueError):
    """JSON that is not well-formed, too deep, or holds text that cannot be stored."""


class BadText(ValueError):
    """A string that cannot be stored; `path` says where in the JSON (metadata.k, messages[0])."""

    def __init__(self, problem: str, path: str = "") -> None:
        self.problem = problem
        self.path = path
        self.message = f"Text{f' at {path}' if path else ''} {problem}."
        super().__init__(self.message)


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets inside strings not counted.

    No recursion and no loop per character: a body with no more than `limit`
    opening brackets cannot be deeper (two counts settle nearly every real body);
    otherwise, with strings and everything but brackets removed, each pass of
    replace("[]", "") removes one level, so what is left after `limit` passes
    nests deeper (or never closes: malformed either way).
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_ONE_KIND_OF_BRACKET)
    for _ in range(limit):
        shorter = brackets.replace("[]", "")
        if not shorter:
            return False
        if len(shorter) == len(brackets):
            return True  # nothing closes any more
        brackets = shorter
    return True


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` as an escape ("\\udfff"), None if it is valid Unicode."""
    found = _LONE_SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found.group()):04x}"


def without_lone_surrogates(text: str) -> str:
    """Each lone surrogate replaced by U+FFFD, the replacement character."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def bad_text_in(value: Any, path: str = "") -> BadText | None:
    """The first string (key or value) in decoded JSON that cannot be stored, with its path.

    Iterative, so it holds on any depth; NUL is refused because PostgreSQL cannot
    store it in text or jsonb.
    """
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return BadText(problem, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                # A key may be the bad text itself: the path shows it escaped, as JSON would.
                shown = json.dumps(key)[1:-1] if _text_problem(key) else key
                child_path = f"{where}.{shown}" if where else shown
                problem = _text_problem(key)
                if problem:
                    return BadText(problem, child_path)
                pending.append((child_path, child))
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "may not contain the NUL character (\\u0000)"
    surrogate = lone_surrogate(text)
    if surrogate:
        return f"is not valid Unicode: a lone surrogate ({surrogate}) cannot be stored"
    return None


def _finite_float(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):  # 1e999: JSON cannot write it back out, nor jsonb store it
        raise BadJSON(f"The number {literal[:20]} is too large.")
    return number


def _no_constant(name: str) -> None:
    raise BadJSON(f"{name} is not valid JSON.")


# Made once: json.loads with arguments builds a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def loads_checked(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads for input from outside: BadJSON (a ValueError) for anything to refuse.

    Refused: malformed JSON, nesting deeper than `max_depth`, NaN/Infinity and
    numbers beyond a float's range, NUL and lone surrogates in any key or string.
    """
    if json_depth_exceeds(text, max_depth):
        raise BadJSON(f"JSON may nest arrays and objects at most {max_depth} levels deep.")
    try:
        data = _DECODER.decode(text)
    except BadJSON:
        raise
    except ValueError as exc:  # JSONDecodeError, and ints beyond Python's 4,300 digits
        raise BadJSON(f"JSON parse error - {exc}") from None
    if _SUSPECT_ESCAPE.search(text):  # rare: only then walk the decoded document
        problem = bad_text_in(data) if len(text) <= _PATH_NAMED_UP_TO else _bad_text_anywhere(data)
        if problem:
            raise BadJSON(problem.message)
    return data


def _bad_text_anywhere(data: Any) -> BadText | None:
    """bad_text_in without the path, in C: dumping escapes NUL (as \\u0000) and keeps a lone
    surrogate raw (ensure_ascii=False), where encoding to UTF-8 then fails."""
    dumped = json.dumps(data, ensure_ascii=False)
    if "\\u0000" in dumped.replace("\\\\", ""):  # a text backslash is dumped doubled
        return BadText(_text_problem("\x00") or "")
    try:
        dumped.encode()
    except UnicodeEncodeError as exc:
        return BadText(_text_problem(exc.object[exc.start : exc.end]) or "")
    return None
