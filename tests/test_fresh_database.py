"""runstack's fast path for a new SQLite database (escalation_project/fresh_database.py).

Building the tables from the models must give the schema the migrations give:
the same tables, columns, indexes (partial ones with their conditions), foreign
keys and check constraints, and every migration recorded as applied, so the
next `migrate` has nothing to do and a later migration applies on top.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def run(code: str, var_dir: Path) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DATABASE_URL_FILE", "REDIS_URL", "REDIS_URL_FILE"}
    }
    env.update(DJANGO_SETTINGS_MODULE="escalation_project.settings", VAR_DIR=str(var_dir), LOG_LEVEL="ERROR")
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def checks(create_sql: str) -> set[str]:
    """The CHECK (...) clauses of a CREATE TABLE, parentheses balanced, spaces normalised."""
    found = set()
    for match in re.finditer(r"CHECK \(", create_sql):
        depth, start = 0, match.end() - 1
        for index in range(start, len(create_sql)):
            depth += {"(": 1, ")": -1}.get(create_sql[index], 0)
            if depth == 0:
                found.add(" ".join(create_sql[start : index + 1].split()))
                break
    return found


def schema(path: Path) -> dict[str, object]:
    connection = sqlite3.connect(path)
    try:
        tables = {}
        for name, sql in connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ):
            # Sorted by name: AddField appends a column where the model may declare it earlier.
            columns = sorted(connection.execute(f'PRAGMA table_info("{name}")'), key=lambda c: c[1])
            indexes = set()
            for _, index, unique, origin, partial in connection.execute(f'PRAGMA index_list("{name}")'):
                fields = tuple(row[2] for row in connection.execute(f'PRAGMA index_info("{index}")'))
                # SQLite numbers its own (sqlite_autoindex_<table>_N) by declaration order.
                label = "auto" if index.startswith("sqlite_autoindex") else index
                where = ""
                if partial:
                    (index_sql,) = connection.execute(
                        "SELECT sql FROM sqlite_master WHERE name = ?", (index,)
                    ).fetchone()
                    where = " ".join(index_sql.split(" WHERE ", 1)[1].split())
                indexes.add((label, unique, origin, fields, where))
            keys = {row[2:] for row in connection.execute(f'PRAGMA foreign_key_list("{name}")')}
            tables[name] = {
                "columns": [tuple(c[1:]) for c in columns],
                "indexes": indexes,
                "foreign keys": keys,
                "checks": checks(sql),
            }
        applied = set(connection.execute("SELECT app, name FROM django_migrations"))
        return {"tables": tables, "applied": applied}
    finally:
        connection.close()


def test_a_new_database_built_from_the_models_has_the_migrations_schema(tmp_path):
    migrated, built = tmp_path / "migrated", tmp_path / "built"
    run("from django.core.management import call_command; call_command('migrate', verbosity=0)", migrated)
    out = run("from escalation_project import fresh_database; print(fresh_database.migrate())", built)
    assert out.strip() == "True"  # the fast path was taken

    expected, actual = schema(migrated / "db.sqlite3"), schema(built / "db.sqlite3")

    assert actual["applied"] == expected["applied"]
    assert set(actual["tables"]) == set(expected["tables"])
    for table, shape in expected["tables"].items():
        assert actual["tables"][table] == shape, table
    # And the next start finds nothing to apply.
    out = run(
        "from django.core.management import call_command; call_command('migrate', verbosity=1)",
        built,
    )
    assert "No migrations to apply." in out


def test_an_existing_database_is_migrated_as_usual(tmp_path):
    run("from django.core.management import call_command; call_command('migrate', verbosity=0)", tmp_path)

    out = run("from escalation_project import fresh_database; print(fresh_database.migrate())", tmp_path)

    assert out.strip().splitlines()[-1] == "False"
