"""{% console_header %}: the viewer's teams and how many escalations wait; any page may use it."""

import datetime as dt
import logging

from django import template
from django.utils import timezone

from escalations.selectors import unanswered_count
from supervisors import presence
from supervisors.selectors import memberships_of, uncovered_team_ids

logger = logging.getLogger(__name__)
register = template.Library()


def _online_user_ids(team_ids: list[int]) -> dict[int, set[int]] | None:
    """Supervisors online per team, or None when Redis can't say: the page renders regardless."""
    try:
        return presence.online_user_ids_by_team(team_ids)
    except Exception:  # a header must not take the page down with Redis
        logger.warning("Presence unavailable for the console header.", exc_info=True)
        return None


@register.inclusion_tag("console/_header_widget.html", takes_context=True)
def console_header(context) -> dict:
    user = context["user"]
    if not user.is_authenticated:
        return {"show": False}
    # Both read once per request and shared with the view (the queue's severity counts).
    memberships = memberships_of(user)
    teams = [membership.team for membership in memberships]
    waiting = unanswered_count(user=user)  # a superuser's: every team
    team_ids = [team.pk for team in teams]
    online = _online_user_ids(team_ids)
    uncovered = set() if online is None else uncovered_team_ids(team_ids, online=online)
    for membership, team in zip(memberships, teams, strict=True):
        team.online = None if online is None else len(online.get(team.pk, ()))
        team.uncovered = team.pk in uncovered
        team.on_duty = membership.on_duty
    return {
        "show": True,
        "teams": teams,
        "unanswered": waiting,
        "superuser": user.is_superuser,
        # Presence and live updates both ride on Redis: unreachable for one, gone for both.
        "live_offline": online is None,
        # One switch for every team (the admin sets it per team); shown as on while on duty in any.
        "on_duty": any(team.on_duty for team in teams),
        "next": context["request"].get_full_path() if "request" in context else "",
    }


SEVERITY_ICONS = {"critical": "▲", "warning": "◆", "info": "●"}


@register.filter
def severity_icon(severity: str) -> str:
    return SEVERITY_ICONS.get(severity, "●")


# The queue prints two durations and a timestamp per row, 50 rows a render: Django's
# timesince/timeuntil and the `date` filter went through translation and format machinery
# for each, about a fifth of a render. These say the same in a denser form, cheaply.


def _compact(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def age(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago: "<1 min", "12 min", "3 h 5 min", "2 d 4 h"."""
    if moment is None:
        return ""
    return _compact(((now or timezone.now()) - moment).total_seconds())


@register.filter
def local_minute(moment: dt.datetime | None) -> str:
    """The minute, as "2026-03-02 14:02 CET", in the viewer's time zone (the time-zone cookie's)."""
    if moment is None:
        return ""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


@register.filter
def seconds(value: float | None) -> str:
    """A duration for people: 45 s, 12 min, 3.5 h, 2.1 d; an em dash for none."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value / 60:.0f} min"
    if value < 86400:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


@register.filter
def share(value: float) -> str:
    return f"{value:.0%}"
