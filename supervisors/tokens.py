"""Writes to staff API tokens: create (the token is returned once) and revoke."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from escalation_project.api.secrets import new_secret
from supervisors.models import UserToken

TOKEN_KIND = "ut"


def user_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[UserToken, str]:
    """Returns the row and the token; the token cannot be recovered afterwards."""
    secret = new_secret(TOKEN_KIND)
    token = UserToken.objects.create(user=user, name=name, prefix=secret.prefix, key_hash=secret.digest)
    return token, secret.key


def user_token_revoke(*, token: UserToken) -> None:
    UserToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
