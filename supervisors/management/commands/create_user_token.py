from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from supervisors.tokens import user_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown this once only)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="Where the token is used.")

    def handle(self, username: str, name: str, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
        _, token = user_token_create(user=user, name=name)
        self.stdout.write(token)
