"""{% console_header %}: the viewer's teams and how many escalations wait; any page may use it."""

from django import template

from escalations.selectors import open_counts_by_team
from supervisors.selectors import memberships_of

register = template.Library()


@register.inclusion_tag("console/_header_widget.html", takes_context=True)
def console_header(context) -> dict:
    user = context["user"]
    if not user.is_authenticated:
        return {"show": False}
    # Both read once per request and shared with the view (the queue's severity counts).
    teams = [membership.team for membership in memberships_of(user)]
    open_count = sum(open_counts_by_team(user=user).values())  # a superuser's: every team
    return {"show": True, "teams": teams, "open_count": open_count, "superuser": user.is_superuser}


SEVERITY_ICONS = {"critical": "▲", "warning": "◆", "info": "●"}


@register.filter
def severity_icon(severity: str) -> str:
    return SEVERITY_ICONS.get(severity, "●")
