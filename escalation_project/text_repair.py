"""Find and repair stored text that UTF-8 cannot encode (lone surrogates), in every project table.

Before the API refused them (escalation_project/text_checks.py), "\\udfff" in a
JSON body was stored on SQLite, as a JSON escape, and from then on every page
that rendered the row was a 500. Text columns on SQLite can also hold bytes
that are not UTF-8 (written by another tool), which Python cannot even read.
Each lone surrogate (or undecodable byte) becomes U+FFFD, the replacement
character. PostgreSQL refuses both at the write (text and jsonb validate
UTF-8 and surrogate escapes), so there the scan finds nothing.

`manage.py repair_text [--dry-run]` calls repair_text().
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction

from escalation_project.text_checks import without_lone_surrogates

# The project's apps; simple-history's tables are models of the same apps.
PROJECT_APPS = ("agents", "escalations", "supervisors", "webhooks")


@dataclass(frozen=True)
class Repair:
    table: str
    pk: Any
    column: str
    before: Any
    after: Any

    def describe(self) -> str:
        return f"{self.table} pk={self.pk} {self.column}: {_shown(self.before)} -> {_shown(self.after)}"


def _shown(value: Any, limit: int = 80) -> str:
    text = json.dumps(value)  # escapes surrogates and control characters: printable
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def text_columns() -> Iterator[tuple[type[models.Model], models.Field]]:
    for label in PROJECT_APPS:
        for model in apps.get_app_config(label).get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, models.CharField | models.TextField | models.JSONField):
                    yield model, field


def repaired_json(value: Any) -> Any:
    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, list):
        return [repaired_json(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(key): repaired_json(item) for key, item in value.items()}
    return value


def _decoded(raw: bytes | str) -> tuple[str, bool]:
    """A SQLite text value read as bytes, and whether they were valid UTF-8.

    Surrogates encoded in the bytes are kept (to be replaced one for one); other broken
    bytes become U+FFFD at once.
    """
    if isinstance(raw, str):
        return raw, True
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("utf-8", "surrogatepass"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), False


def _stored(model: type[models.Model], field: models.Field) -> Iterator[tuple[Any, Any, bool]]:
    """(pk, value, valid) of each row where the column is not NULL; valid: the stored bytes were UTF-8."""
    if isinstance(field, models.JSONField) or connection.vendor != "sqlite":
        # The ORM reads these: JSON keeps a surrogate as an escape; PostgreSQL's text is valid UTF-8.
        rows = model._base_manager.exclude(**{f"{field.attname}__isnull": True})
        for pk, value in rows.values_list("pk", field.attname).iterator(chunk_size=2000):
            yield pk, value, True
        return
    # sqlite3 decodes text as strict UTF-8 and raises on a broken value: read the bytes.
    table, column = model._meta.db_table, field.column
    pk = model._meta.pk.column
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(pk)}, CAST({quote(column)} AS BLOB) FROM {quote(table)} "  # noqa: S608 (names from the models)
            f"WHERE {quote(column)} IS NOT NULL"
        )
        while rows := cursor.fetchmany(2000):  # a big table is not held in memory at once
            for key, raw in rows:
                yield key, *_decoded(raw)


def repair_text(*, dry_run: bool = False) -> list[Repair]:
    """Every stored value with a lone surrogate, repaired unless dry_run; returns what (would have) changed.

    Writes with QuerySet.update: a repair is maintenance, not an edit, so it adds no history row
    (and the history tables are repaired like any other).
    """
    repairs: list[Repair] = []
    for model, field in text_columns():
        fix = repaired_json if isinstance(field, models.JSONField) else without_lone_surrogates
        found: list[Repair] = []
        for pk, value, valid in _stored(model, field):
            after = fix(value)
            if not valid or after != value:
                found.append(Repair(model._meta.db_table, pk, field.column, value, after))
        if not dry_run:
            # After the column's scan: SQLite does not isolate a write from a read in progress
            # on the same connection.
            with transaction.atomic():
                for repair in found:
                    model._base_manager.filter(pk=repair.pk).update(**{field.attname: repair.after})
        repairs += found
    return repairs
