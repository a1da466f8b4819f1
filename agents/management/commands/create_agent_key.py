from django.core.management.base import BaseCommand, CommandError

from agents.keys import agent_key_create
from agents.models import Agent


class Command(BaseCommand):
    help = "Create an API key for an agent and print it (it is shown this once only)."

    def add_arguments(self, parser):
        parser.add_argument("agent_slug")
        parser.add_argument("--name", default="API key", help="Where the key is used.")

    def handle(self, agent_slug: str, name: str, **options):
        try:
            agent = Agent.objects.get(slug=agent_slug)
        except Agent.DoesNotExist:
            raise CommandError(f"There is no agent with the slug {agent_slug!r}.") from None
        _, key = agent_key_create(agent=agent, name=name)
        self.stdout.write(key)
