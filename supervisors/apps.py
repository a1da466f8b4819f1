from django.apps import AppConfig


class SupervisorsConfig(AppConfig):
    name = "supervisors"
    verbose_name = "Teams and supervisors"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from escalation_project import metrics
        from supervisors.access import on_logged_out
        from supervisors.presence import presence_gauges

        # The open consoles on /metrics, read at scrape time.
        metrics.register_source("presence", presence_gauges)

        # A logout ends the session's console sockets too (supervisors/access.py).
        user_logged_out.connect(on_logged_out, dispatch_uid="supervisors.access.on_logged_out")
