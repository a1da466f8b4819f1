"""`migrate` for `manage.py runstack`, with a fast path for the embedded SQLite database's first start.

Applying the ~60 migrations to an empty database spent nearly all its time in
Django re-rendering model states between operations (19 s of a cold `make run`
on a loaded 2-core machine; the SQL itself is a fraction of a second). A new
SQLite database is instead built from the models in one step, as Django's test
runner does with MIGRATE=False (`migrate --run-syncdb` with migrations turned
off), and every migration is then recorded as applied, so later migrations
apply on top as usual. tests/test_fresh_database.py checks that the schema is
the one the migrations build.

Only where that is safe: SQLite (the schema the test compares), a database with
no table at all, and no migration that writes data (RunPython, RunSQL) beyond the
known ones that only touch existing rows; building from the models would skip
it. Anything else: `migrate`.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython, RunSQL
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import override_settings


def migrate(*, database: str = DEFAULT_DB_ALIAS, verbosity: int = 1) -> bool:
    """Bring the database up to date; True if it was new and built from the models."""
    connection = connections[database]
    if connection.vendor == "sqlite" and not connection.introspection.table_names():
        loader = MigrationLoader(connection)
        if not _data_migrations(loader):
            build_from_models(database=database, loader=loader)
            return True
    call_command("migrate", database=database, interactive=False, verbosity=verbosity)
    return False


def build_from_models(*, database: str, loader: MigrationLoader) -> None:
    """Every model's table as the models say, then every migration marked applied. Empty database only."""
    without_migrations = {config.label: None for config in apps.get_app_configs()}
    with override_settings(MIGRATION_MODULES=without_migrations):
        # Also sends post_migrate: content types and permissions, as after a migrate.
        call_command("migrate", database=database, run_syncdb=True, interactive=False, verbosity=0)
    recorder = MigrationRecorder(connections[database])
    for app_label, name in sorted(loader.graph.nodes):
        recorder.record_applied(app_label, name)


# The data migrations in the graph today, each of which only changes rows that already exist
# (a new database has none): building from the models loses nothing by skipping them.
ROWS_ONLY_DATA_MIGRATIONS = frozenset(
    {
        ("auth", "0011_update_proxy_permissions"),  # renames existing permissions
        ("axes", "0007_alter_accessattempt_unique_together"),  # removes duplicate attempts
        ("contenttypes", "0002_remove_content_type_name"),  # a no-op forwards
    }
)


def _data_migrations(loader: MigrationLoader) -> list[str]:
    """Migrations that run code or SQL, other than the known ones above: a new one (ours or a
    library's) may insert rows, which building from the models would skip."""
    return [
        f"{app_label}.{name}"
        for (app_label, name), migration in loader.graph.nodes.items()
        if (app_label, name) not in ROWS_ONLY_DATA_MIGRATIONS
        and any(isinstance(operation, RunPython | RunSQL) for operation in migration.operations)
    ]
