"""Whom a new escalation is assigned to: the agent's choice, else the team's policy.

Called by services.open_escalation only, inside its transaction. Round robin
picks, in user id order, the first supervisor after the last one picked who is
on duty, online (a console open: supervisors.presence) and under the team's
load limit. Its place is kept on the team's TeamPolicy row, read and written
under that row's lock, so two escalations opened at once never pick from the
same place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count
from redis.exceptions import RedisError

from agents.models import Agent
from escalations.choices import Assignment
from escalations.models import Escalation, Status, TeamPolicy
from supervisors import presence
from supervisors.models import Membership

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    user: AbstractBaseUser | None
    how: str  # for the audit: "default assignee", "round robin" ...


def choose_assignee(agent: Agent) -> Choice:
    """Call inside atomic: round robin locks the team's policy row until the commit."""
    if agent.assignment == Assignment.NONE:
        return Choice(None, "")
    if agent.assignment == Assignment.ROUND_ROBIN:
        return _round_robin(agent.team_id)
    if agent.default_assignee_id:
        return Choice(agent.default_assignee, "the agent's default assignee")
    policy = TeamPolicy.of(agent.team_id)
    if policy.assignment == Assignment.NONE:
        return Choice(None, "")
    if policy.assignment == Assignment.USER:
        return Choice(policy.assignee, "the team's assignee") if policy.assignee_id else Choice(None, "")
    return _round_robin(agent.team_id)


def active_load(user_ids: list[int]) -> dict[int, int]:
    """Per user: escalations they hold (claimed) plus open ones assigned to them.

    A claimed escalation counts once, for its claimer, whoever it was assigned to.
    """
    claimed = (
        Escalation.objects.filter(status=Status.CLAIMED, claimed_by_id__in=user_ids)
        .values_list("claimed_by_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    assigned = (
        Escalation.objects.filter(status=Status.OPEN, assigned_to_id__in=user_ids)
        .values_list("assigned_to_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    load = dict.fromkeys(user_ids, 0)
    for user_id, n in [*claimed, *assigned]:
        load[user_id] += n
    return load


def _round_robin(team_id: int) -> Choice:
    try:
        online = presence.online_user_ids(team_id)
    except RedisError:
        # Nobody known to be online: the escalation still opens, in the team queue.
        logger.warning("Presence unavailable; round robin leaves the escalation in the queue.", exc_info=True)
        return Choice(None, "")
    TeamPolicy.objects.get_or_create(team_id=team_id)
    policy = TeamPolicy.objects.select_for_update().get(team_id=team_id)
    on_duty = set(
        Membership.objects.filter(
            team_id=team_id, user_id__in=online, on_duty=True, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    candidates = sorted(on_duty)
    if policy.load_limit is not None:
        load = active_load(candidates)
        candidates = [user_id for user_id in candidates if load[user_id] < policy.load_limit]
    if not candidates:
        return Choice(None, "")
    last = policy.last_assigned_id or 0
    chosen = next((user_id for user_id in candidates if user_id > last), candidates[0])
    TeamPolicy.objects.filter(pk=policy.pk).update(last_assigned_id=chosen)
    return Choice(get_user_model().objects.get(pk=chosen), "round robin")
