"""Who is calling: an agent (`Authorization: Bearer <agent key>`), a staff member
(`Authorization: Token <user token>`) or a console session.

An agent key authenticates as an `AgentPrincipal` (request.user) with the key
row as request.auth; views ask `calling_agent(request)` rather than looking
at types. Every failure says the same thing, so a probe learns nothing about
which keys exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from agents.models import Agent, AgentApiKey
from escalation_project.api import secrets
from supervisors.models import UserToken

INVALID = "The API key or token is missing, revoked or wrong."
# last_used_at is written at most this often per key: a write per request would
# make every read a write.
LAST_USED_GRANULARITY_SECONDS = 60


@dataclass(frozen=True)
class AgentPrincipal:
    """request.user for an agent key: authenticated, but no person and no team role."""

    agent: Agent
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    is_staff: bool = False
    pk: None = None

    def get_username(self) -> str:
        return f"agent:{self.agent.slug}"


def calling_agent(request: Request) -> Agent | None:
    user = getattr(request, "user", None)
    return user.agent if isinstance(user, AgentPrincipal) else None


def _touch(model, row) -> None:
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > LAST_USED_GRANULARITY_SECONDS:
        model.objects.filter(pk=row.pk).update(last_used_at=now)


class _PrefixedKeyAuthentication(authentication.BaseAuthentication):
    keyword = ""
    kind = ""
    model: type = AgentApiKey

    def authenticate_header(self, request) -> str:
        return self.keyword

    def _credentials(self, request) -> str | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(INVALID)
        return header[1]

    def _row(self, key: str):
        prefix = secrets.prefix_of(key, self.kind)
        if prefix is None:
            raise exceptions.AuthenticationFailed(INVALID)
        # The prefix is unique, so at most one row: no ORDER BY (first() would add the model's
        # ordering, and compiling it was ~0.2 ms of every API request's CPU).
        rows = self._queryset().filter(prefix=prefix, revoked_at__isnull=True).order_by()[:1]
        row = next(iter(rows), None)
        if row is None or not secrets.matches(key, row.key_hash):
            raise exceptions.AuthenticationFailed(INVALID)
        _touch(self.model, row)
        return row

    def _queryset(self):
        raise NotImplementedError


class AgentKeyAuthentication(_PrefixedKeyAuthentication):
    keyword = "Bearer"
    kind = "ak"
    model = AgentApiKey

    def _queryset(self):
        return AgentApiKey.objects.select_related("agent__team")

    def authenticate(self, request):
        key = self._credentials(request)
        if key is None:
            return None
        row = self._row(key)
        return AgentPrincipal(agent=row.agent), row


class UserTokenAuthentication(_PrefixedKeyAuthentication):
    keyword = "Token"
    kind = "ut"
    model = UserToken

    def _queryset(self):
        return UserToken.objects.select_related("user")

    def authenticate(self, request):
        key = self._credentials(request)
        if key is None:
            return None
        row = self._row(key)
        if not row.user.is_active:
            raise exceptions.AuthenticationFailed(INVALID)
        return row.user, row


# Registers the schemes above with drf-spectacular; import for the side effect.
from escalation_project.api import schema as _schema  # noqa: E402, F401
