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
