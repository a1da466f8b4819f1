"""Seeds a request bench's fresh database, run with the code of the checkout being measured.

    python bench/_seed.py CODE_DIR CONVERSATIONS     (cwd CODE_DIR, the side's environment)

Migrates, then makes a team, an agent with one phrase rule, an agent key and
CONVERSATIONS conversations, and prints them as one JSON line. It runs in a
process of its own so that another checkout's models and migrations (--code,
--compare) build that checkout's database: the bench's own code never touches it.
"""

from __future__ import annotations

import json
import sys

# The phrase of the bench agent's one rule: a message containing it opens an escalation.
RULE_PHRASE = "zqx refund now"


def seed(conversations: int) -> dict:
    from django.core.management import call_command

    from agents.keys import agent_key_create
    from agents.models import Agent, Conversation, EscalationRule
    from supervisors.models import Team

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    agent = Agent.objects.create(team=team, name="Bench Bot", slug="bench-bot", description="Benchmarks.")
    EscalationRule.objects.create(
        agent=agent,
        name="refund now",
        kind="phrases",
        parameters={"phrases": [RULE_PHRASE]},
        reason_template="Said {phrase}",
        order=1,
    )
    _, key = agent_key_create(agent=agent, name="bench")
    made = Conversation.objects.bulk_create(
        Conversation(agent=agent, external_id=f"seeded-{k}", channel="chat") for k in range(conversations)
    )
    # bulk_create returns ids on both PostgreSQL and SQLite (RETURNING).
    return {"key": key, "conversations": [conversation.pk for conversation in made]}


# `make bench` runs every bench/*.py without arguments: then this does nothing.
if __name__ == "__main__" and len(sys.argv) == 3:
    code_dir, conversations = sys.argv[1], int(sys.argv[2])
    # Not bench/ first: bench/webhooks.py and bench/metrics.py would shadow the project's modules.
    sys.path[0] = code_dir
    import django

    django.setup()
    print(json.dumps(seed(conversations)))
