from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_delete, post_save


class EscalationsConfig(AppConfig):
    name = "escalations"
    verbose_name = "Escalations"

    def ready(self) -> None:
        from escalation_project import metrics
        from escalation_project.sqlite_limits import use_sqlite_parameter_limit
        from escalations import models
        from escalations.gauges import queue_gauges

        # The queue's size on /metrics, read at scrape time.
        metrics.register_source("database", queue_gauges)

        # Bulk writes (a timer's batch) in one statement on SQLite too.
        connection_created.connect(use_sqlite_parameter_limit, dispatch_uid="sqlite-parameter-limit")
        from escalations.team_config import forget_team_config

        # What escalations.team_config keeps: a change in this process is seen at once.
        for model in (
            models.UrgencyTarget,
            models.BusinessHours,
            models.WorkingPeriod,
            models.Holiday,
            models.TeamPolicy,
            models.LadderLevel,
        ):
            post_save.connect(forget_team_config, sender=model, dispatch_uid=f"team-config-{model.__name__}")
            post_delete.connect(
                forget_team_config, sender=model, dispatch_uid=f"team-config-del-{model.__name__}"
            )
