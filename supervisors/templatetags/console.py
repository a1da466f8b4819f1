"""{% console_header %}: the viewer's teams and how many escalations wait; any page may use it."""

import logging

from django import template

from escalations.selectors import open_counts_by_team
from supervisors import presence
from supervisors.selectors import memberships_of

logger = logging.getLogger(__name__)
register = template.Library()


def _online_counts(team_ids: list[int]) -> dict[int, int] | None:
    """Supervisors online per team, or None when Redis can't say: the page renders regardless."""
    try:
        return presence.online_counts(team_ids)
    except Exception:  # a header must not take the page down with Redis
        logger.warning("Presence unavailable for the console header.", exc_info=True)
        return None


@register.inclusion_tag("console/_header_widget.html", takes_context=True)
def console_header(context) -> dict:
    user = context["user"]
    if not user.is_authenticated:
        return {"show": False}
    # Both read once per request and shared with the view (the queue's severity counts).
    teams = [membership.team for membership in memberships_of(user)]
    open_count = sum(open_counts_by_team(user=user).values())  # a superuser's: every team
    online = _online_counts([team.pk for team in teams])
    for team in teams:
        team.online = None if online is None else online.get(team.pk, 0)
    return {"show": True, "teams": teams, "open_count": open_count, "superuser": user.is_superuser}


SEVERITY_ICONS = {"critical": "▲", "warning": "◆", "info": "●"}


@register.filter
def severity_icon(severity: str) -> str:
    return SEVERITY_ICONS.get(severity, "●")
