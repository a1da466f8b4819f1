"""Reads of webhook state used outside the webhooks app's own views."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from supervisors.models import Role
from supervisors.selectors import team_ids_with_role
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
    # The user's memberships are read once per request and shared with the rest of the page.
    owned = team_ids_with_role(user, Role.OWNER)
    if owned is not None:  # None: a superuser, every team
        if not owned:
            return []
        disabled = disabled.filter(team_id__in=owned)
    return list(disabled.order_by("-disabled_at")[:BANNER_LIMIT])
