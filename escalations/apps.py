from django.apps import AppConfig
from django.db.backends.signals import connection_created


class EscalationsConfig(AppConfig):
    name = "escalations"
    verbose_name = "Escalations"

    def ready(self) -> None:
        from escalation_project import metrics
        from escalation_project.sqlite_limits import use_sqlite_parameter_limit
        from escalations.gauges import queue_gauges

        # The queue's size on /metrics, read at scrape time.
        metrics.register_source("database", queue_gauges)

        # Bulk writes (a timer's batch) in one statement on SQLite too.
        connection_created.connect(use_sqlite_parameter_limit, dispatch_uid="sqlite-parameter-limit")
