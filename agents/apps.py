from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents and rules"

    def ready(self) -> None:
        from agents import checks  # noqa: F401  (registers the intent model's system check)
