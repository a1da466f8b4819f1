"""Throw-away state for a benchmark: never the database DATABASE_URL names, never var/."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def use_fresh_postgres_database(name: str) -> str | None:
    """Point DATABASE_URL at a new, empty database `name`; return the server's admin URL.

    None when DATABASE_URL is unset (the bench then runs on SQLite).
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"DATABASE_URL must be PostgreSQL (or unset for SQLite), not {parts.scheme}://")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    drop_database(admin_url, name)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    return admin_url


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        # FORCE: a pool connection left by a crashed run must not block the drop.
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def django_stack(database: str, **env: str) -> Iterator[None]:
    """Django set up on throw-away state, torn down after.

    A temporary VAR_DIR; the database `database` made fresh on the server of a
    PostgreSQL DATABASE_URL (else SQLite in VAR_DIR); REDIS_URL, or else an
    embedded redis-server. `env` is set before Django reads its settings.
    """
    workdir = tempfile.TemporaryDirectory(prefix=f"{database}-")
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    os.environ.update(DJANGO_SETTINGS_MODULE="escalation_project.settings", VAR_DIR=workdir.name, **env)
    admin_url = use_fresh_postgres_database(database)
    redis = None
    if not os.environ.get("REDIS_URL"):
        from escalation_project.embedded_redis import free_port, start

        port = free_port()
        redis = start(port, Path(workdir.name) / "redis")
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    import django

    django.setup()
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        if admin_url:
            drop_database(admin_url, database)
        if redis is not None:
            from escalation_project.embedded_redis import stop

            stop(redis)
        workdir.cleanup()
