from django.core.management.base import BaseCommand

from escalation_project.text_repair import repair_text


class Command(BaseCommand):
    help = (
        "Find stored text that UTF-8 cannot encode (lone surrogates, broken bytes) in every "
        "text, char and JSON column of the project's tables and their history, and replace "
        "each bad character with U+FFFD."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List what would change; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        repairs = repair_text(dry_run=dry_run)
        for repair in repairs:
            self.stdout.write(repair.describe())
        if not repairs:
            self.stdout.write(self.style.SUCCESS("No stored text needs repair."))
        elif dry_run:
            self.stdout.write(f"{len(repairs)} value(s) would be repaired; run without --dry-run to repair.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Repaired {len(repairs)} value(s)."))
