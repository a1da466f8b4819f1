"""`manage.py check_rules [agent-slug …]`: run the rule tests; exit non-zero on any failure (for CI).

Each enabled rule's parameters are checked first, as a save would check them: a
rule written before a check existed (e.g. an intent with two examples) is
reported by name and field and fails the run, instead of being skipped unseen.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from agents.engine.intent import ModelUnavailable
from agents.models import Agent
from agents.rule_bench import run_rule_tests
from agents.rule_parameters import validate_parameters


class Command(BaseCommand):
    help = "Run the agents' rule tests (all agents, or the given slugs); exit 1 if any fails."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", metavar="agent-slug")

    def handle(self, *args, slugs: list[str], **options):
        agents = Agent.objects.order_by("slug")
        if slugs:
            agents = agents.filter(slug__in=slugs)
            unknown = sorted(set(slugs) - set(agents.values_list("slug", flat=True)))
            if unknown:
                raise CommandError(f"No agent with the slug {', '.join(unknown)}.")
        total = failed = invalid_rules = 0
        for agent in agents:
            for rule in agent.rules.filter(enabled=True).order_by("order", "pk"):
                try:
                    validate_parameters(rule.kind, rule.parameters)
                except ValidationError as invalid:
                    invalid_rules += 1
                    problems = "; ".join(
                        f"{field}: {' '.join(m)}" for field, m in invalid.message_dict.items()
                    )
                    self.stdout.write(
                        self.style.ERROR(f"  FAIL  {agent.slug}: rule {rule.name!r}: {problems}")
                    )
            try:
                results = run_rule_tests(agent)
            except ModelUnavailable as unavailable:
                raise CommandError(f"{agent.slug}: {unavailable.message}") from None
            if not results:
                self.stdout.write(f"{agent.slug}: no rule tests")
                continue
            self.stdout.write(f"{agent.slug}:")
            for result in results:
                total += 1
                if result.passed:
                    fired = f" ({', '.join(result.fired_rules)})" if result.fired_rules else ""
                    self.stdout.write(self.style.SUCCESS(f"  pass  {result.case.name}{fired}"))
                else:
                    failed += 1
                    self.stdout.write(self.style.ERROR(f"  FAIL  {result.case.name}: {result.problem}"))
        summary = f"{total - failed} of {total} rule tests passed."
        if invalid_rules:
            summary += f" {invalid_rules} rule(s) with invalid parameters."
        if failed or invalid_rules:
            raise CommandError(summary)
        self.stdout.write(summary)
