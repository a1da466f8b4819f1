"""SQLite's real limit on bound parameters, instead of Django's assumed 999.

Django 5.2 splits every bulk INSERT/UPDATE on SQLite into statements of at most
999 parameters (the limit of SQLite builds before 3.32). Debian's SQLite allows
32,766, so without this a timer batch's 200 history rows (~40 columns each)
would take nine INSERTs, and a batch's statements would grow with its size.
Connected to `connection_created` in escalations.apps.
"""

from __future__ import annotations

import sqlite3


def use_sqlite_parameter_limit(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        connection.features.max_query_params = limit
