"""Writes to agents and their rules."""

from django.db.models import F

from agents.models import Agent


def bump_rules_version(*, agent_id: int) -> None:
    """Call after any write to an agent's rules, inside the same transaction.

    One UPDATE with F() so two editors saving at once both count.
    """
    Agent.objects.filter(pk=agent_id).update(rules_version=F("rules_version") + 1)
