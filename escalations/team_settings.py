"""A team's settings that the verbs read: urgency targets, business hours, policy and ladder.

Every write to them goes through here: the API (escalations/api/targets.py, ladder.py),
the admin (team_settings_save) and the demo. Each bumps the team's settings stamp in the
same transaction (team_settings_changed), which is how every process's kept copy
(escalations.team_config) learns of it; a ladder change also restarts stopped climbs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from escalations.choices import Urgency, choice
from escalations.models import (
    BusinessHours,
    Escalation,
    Holiday,
    LadderLevel,
    Status,
    TeamPolicy,
    UrgencyTarget,
    WorkingPeriod,
)
from escalations.wording import name_of
from supervisors.models import Membership, Team

SETTINGS_MODELS = (UrgencyTarget, BusinessHours, WorkingPeriod, Holiday, TeamPolicy, LadderLevel)


def team_settings_changed(*, team_id: int | None) -> None:
    """Call inside the transaction of every write to a team's settings; None for the defaults
    every team falls back on (an urgency target without a team), which moves every team's stamp.

    One UPDATE with F() so two writers at once both count.
    """
    teams = Team.objects.all() if team_id is None else Team.objects.filter(pk=team_id)
    teams.update(settings_version=F("settings_version") + 1)


def team_settings_save(*, saved: Iterable[models.Model] = (), deleted: Iterable[models.Model] = ()) -> None:
    """Save and delete rows of SETTINGS_MODELS already changed in memory (the admin's forms,
    the demo), in one transaction with their teams' stamps bumped; a ladder change restarts
    the team's stopped climbs (ladder_changed). Many-to-many fields are the caller's
    (a form's save_m2m()) inside the same transaction.
    """
    saved, deleted = list(saved), list(deleted)
    with transaction.atomic():
        teams = {_team_id_of(row) for row in [*saved, *deleted]}
        ladders = {row.team_id for row in [*saved, *deleted] if isinstance(row, LadderLevel)}
        # A row moved to another team (the admin lets an owner pick) changes both teams' settings.
        for row in saved:
            if row.pk is not None and hasattr(row, "team_id"):
                stored = type(row).objects.filter(pk=row.pk).values_list("team_id", flat=True).first()
                teams.add(stored)
                if isinstance(row, LadderLevel) and stored is not None:
                    ladders.add(stored)
        for row in deleted:
            row.delete()
        for row in saved:
            row.save()
        for team_id in teams:
            team_settings_changed(team_id=team_id)
        for team_id in ladders:
            ladder_changed(team_id=team_id)


def _team_id_of(row: models.Model) -> int | None:
    if isinstance(row, WorkingPeriod | Holiday):
        return row.business_hours.team_id  # the form's (or caller's) parent, cached on the row
    if isinstance(row, SETTINGS_MODELS):
        return row.team_id  # type: ignore[attr-defined]
    raise TypeError(f"{type(row).__name__} is not a team setting")


def urgency_target_set(
    *,
    team_id: int,
    urgency: Urgency | str,
    response_minutes: int,
    resolution_minutes: int,
    claim_minutes: int,
    reminder_minutes: int,
) -> UrgencyTarget:
    """The team's own targets for this urgency, replacing the default for it.

    Applies to escalations opened (due times) and claimed (lease) from now on.
    """
    with transaction.atomic():
        target, _ = UrgencyTarget.objects.update_or_create(
            team_id=team_id,
            urgency=choice(Urgency, "urgency", urgency),
            defaults={
                "response_minutes": response_minutes,
                "resolution_minutes": resolution_minutes,
                "claim_minutes": claim_minutes,
                "reminder_minutes": reminder_minutes,
            },
        )
        team_settings_changed(team_id=team_id)
    return target


def ladder_set(*, team_id: int, levels: list[dict[str, Any]]) -> list[LadderLevel]:
    """Replace the team's escalation ladder: level 1 first, each as LadderLevel's fields with
    `notify_users` a list of users and `notify_team` a team id or None.

    Escalations already climbing go on by the new levels: a climb re-reads the level it is
    due for (escalations.timers), and one the ladder no longer has stops there; one that
    had stopped, or never started, climbs again if the new ladder goes higher (ladder_changed).
    Named people must be members of the team.
    """
    _refuse_outsiders(team_id, [user for level in levels for user in level.get("notify_users", [])])
    with transaction.atomic():
        LadderLevel.objects.filter(team_id=team_id).delete()
        rows = []
        for number, level in enumerate(levels, start=1):
            row = LadderLevel(
                team_id=team_id,
                number=number,
                after_minutes=level["after_minutes"],
                min_urgency=choice(Urgency, "min_urgency", level.get("min_urgency", Urgency.LOW)),
                notify_supervisors=level.get("notify_supervisors", True),
                notify_owners=level.get("notify_owners", False),
                notify_team_id=level.get("notify_team"),
            )
            row.clean()
            row.save()
            row.notify_users.set(level.get("notify_users", []))
            rows.append(row)
        team_settings_changed(team_id=team_id)
        ladder_changed(team_id=team_id)
    return rows


def _refuse_outsiders(team_id: int, users: list[AbstractBaseUser]) -> None:
    """A ladder names only its team's people: anyone else would let an owner probe for the
    instance's users and send the team's news outside it. Worded as for a user who does not
    exist, so the answer does not tell which."""
    members = set(Membership.objects.filter(team_id=team_id).values_list("user_id", flat=True))
    outsiders = sorted({name_of(user) for user in users if user.pk not in members})
    if outsiders:
        raise ValidationError({"notify_users": f"No active user named {', '.join(outsiders)}."})


def ladder_changed(*, team_id: int) -> None:
    """After the team's ladder changed (ladder_set, team_settings_save): each open escalation
    with no next level scheduled that the new ladder has one for climbs again, from now.

    A schedule only, like _schedule_climb at opening: the climb itself writes the audit row
    and the event. One guarded UPDATE per level: one claimed meanwhile no longer matches.
    """
    now = timezone.now()
    stopped = Escalation.objects.filter(team_id=team_id, status=Status.OPEN, next_level_at__isnull=True)
    for level in LadderLevel.objects.filter(team_id=team_id):
        urgencies = [urgency for urgency in Urgency if level.applies_to(urgency)]
        stopped.filter(level=level.number - 1, urgency__in=urgencies).update(
            next_level_at=now + dt.timedelta(minutes=level.after_minutes)
        )


def urgency_target_reset(*, team_id: int, urgency: Urgency | str) -> None:
    """Back to the default targets for this urgency."""
    with transaction.atomic():
        UrgencyTarget.objects.filter(team_id=team_id, urgency=choice(Urgency, "urgency", urgency)).delete()
        team_settings_changed(team_id=team_id)
