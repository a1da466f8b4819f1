from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from escalation_project import heartbeats


class Command(BaseCommand):
    help = (
        "Exit 0 if the role (beat or worker) recorded a heartbeat within HEARTBEAT_STALE_SECONDS, "
        "else 1: a container healthcheck for beat, which answers no ping of its own."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", choices=heartbeats.ROLES)

    def handle(self, role: str, **options):
        try:
            seconds = heartbeats.ages()[role]
        except Exception as error:  # redis-py's errors vary; any of them means "cannot tell"
            raise CommandError(f"Cannot read the {role} heartbeat from Redis: {error}") from error
        if seconds is None:
            raise CommandError(f"No {role} heartbeat recorded.")
        stale = settings.HEARTBEAT_STALE_SECONDS
        if seconds > stale:
            raise CommandError(f"The {role} heartbeat is {seconds:.0f} s old (more than {stale} s).")
        self.stdout.write(f"{role}: last heartbeat {seconds:.0f} s ago")
