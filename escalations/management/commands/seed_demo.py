"""`manage.py seed_demo`: the demo teams, agents and queue, once; the demo logins, every time."""

from typing import Any

from django.core.management.base import BaseCommand

from escalations import demo


class Command(BaseCommand):
    help = (
        "Create demo teams, agents, rules and escalations unless any team exists, then print the demo logins."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo.load_demo_data()
        if logins:
            self.stdout.write(f"Demo logins (kept in {demo.credentials_path()}):")
        for line in demo.credential_lines(logins):
            self.stdout.write(line)
