"""{% console_header %}: the viewer's teams and how many escalations wait; any page may use it."""

from django import template
from django.db.models import Count, Q

from escalations.models import Escalation, Status
from supervisors.models import Team

register = template.Library()


@register.inclusion_tag("console/_header_widget.html", takes_context=True)
def console_header(context) -> dict:
    user = context["user"]
    if not user.is_authenticated:
        return {"show": False}
    # One query: the user's teams, each with its open count.
    teams = list(
        Team.objects.filter(memberships__user=user)
        .annotate(open_count=Count("escalations", filter=Q(escalations__status=Status.OPEN)))
        .order_by("name")
    )
    if user.is_superuser:  # sees every team's queue, member or not
        open_count = Escalation.objects.filter(status=Status.OPEN).count()
    else:
        open_count = sum(team.open_count for team in teams)
    return {"show": True, "teams": teams, "open_count": open_count, "superuser": user.is_superuser}


SEVERITY_ICONS = {"critical": "▲", "warning": "◆", "info": "●"}


@register.filter
def severity_icon(severity: str) -> str:
    return SEVERITY_ICONS.get(severity, "●")
