"""Writes to agent API keys: create (the key is returned once) and revoke."""

from __future__ import annotations

from django.utils import timezone

from agents.models import Agent, AgentApiKey
from escalation_project.api.secrets import new_secret

KEY_KIND = "ak"


def agent_key_create(*, agent: Agent, name: str) -> tuple[AgentApiKey, str]:
    """Returns the row and the key; the key cannot be recovered afterwards."""
    secret = new_secret(KEY_KIND)
    api_key = AgentApiKey.objects.create(
        agent=agent, name=name or "API key", prefix=secret.prefix, key_hash=secret.digest
    )
    return api_key, secret.key


def agent_key_revoke(*, api_key: AgentApiKey) -> None:
    AgentApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
