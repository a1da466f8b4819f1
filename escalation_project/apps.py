from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app: its management commands (repair_text), and the admin's
    JSON form field.

    Listed before django.contrib.admin: the admin copies its form field defaults
    when each ModelAdmin is registered, in its own ready().
    """

    name = "escalation_project"
    verbose_name = "Escalation Console"

    def ready(self) -> None:
        from django.contrib.admin import options
        from django.db import models

        from escalation_project.forms import CheckedJSONField

        options.FORMFIELD_FOR_DBFIELD_DEFAULTS[models.JSONField] = {"form_class": CheckedJSONField}

        # Every app's tasks registered in every process (not only in a worker), so a task can
        # be sent by its name (escalation_project.celery.delay_by_name). All models are loaded here.
        from escalation_project.celery import app

        app.autodiscover_tasks(force=True)
