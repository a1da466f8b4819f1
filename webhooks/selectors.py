"""Reads of webhook state used outside the webhooks app's own views."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from supervisors.models import Role
from webhooks.models import Endpoint

# The banner lists a few; the admin's endpoint list (filter: active = No) has the rest.
BANNER_LIMIT = 5


def endpoints_disabled_for_owner(user: AbstractBaseUser) -> list[Endpoint]:
    """Endpoints switched off automatically (410, or failing for days) in teams the user owns.

    Switched off by a person (active unticked) they carry no disabled_at and are not listed.
    """
    if not user.is_authenticated or not user.is_active:
        return []
    disabled = Endpoint.objects.filter(active=False, disabled_at__isnull=False)
    if not user.is_superuser:
        # One query: the membership join rather than a separate read of the user's teams.
        disabled = disabled.filter(team__memberships__user=user, team__memberships__role=Role.OWNER)
    return list(disabled.order_by("-disabled_at")[:BANNER_LIMIT])
