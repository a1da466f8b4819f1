"""Reason templates: "Customer asked for a refund of {amount} (limit {limit})".

Placeholders are plain names (no attributes, indexes, conversions or format
specs), and each kind allows only the ones its hits fill in, so a template
that passed validation always renders completely. Rendering never raises: a
template saved before validation existed renders as written.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

COMMON = ("rule", "text")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "phrases": (*COMMON, "phrase"),
    "regex": COMMON,
    "amount": (*COMMON, "phrase", "amount", "currency", "limit"),
    "asks_for_human": (*COMMON, "phrase"),
    "sentiment": (*COMMON, "score", "threshold", "count"),
    "loop": (*COMMON, "count"),
    "intent": (*COMMON, "example", "score", "threshold"),
}
_formatter = string.Formatter()


def template_problem(kind: str, template: str) -> str | None:
    """A message for the admin, or None when the template is fine for this kind."""
    allowed = PLACEHOLDERS.get(kind, COMMON)
    listed = ", ".join("{" + name + "}" for name in allowed)
    try:
        fields = list(_formatter.parse(template))
    except ValueError as exc:
        return f"{exc} (write {{{{ or }}}} for a literal brace). Placeholders for this kind: {listed}."
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            return f"Unknown placeholder {shown}. Placeholders for this kind: {listed}."
    return None


def render(template: str, values: Mapping[str, object]) -> str:
    try:
        parts = []
        for literal, name, _, _ in _formatter.parse(template):
            parts.append(literal)
            if name is not None:
                parts.append(str(values.get(name, "")))
        return "".join(parts)
    except ValueError:
        return template
