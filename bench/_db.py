"""A throw-away PostgreSQL database for a benchmark: never the one DATABASE_URL names."""

from __future__ import annotations

import os
import sys
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
