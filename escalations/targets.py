"""Reads of a team's targets and working hours, and the due times they give."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, Prefetch, Q

from escalations.choices import Urgency
from escalations.models import BusinessHours, Holiday, UrgencyTarget
from escalations.team_config import team_config
from escalations.working_time import WorkingHours, add_working_time


@dataclass(frozen=True)
class Targets:
    response_minutes: int
    resolution_minutes: int
    claim_minutes: int
    reminder_minutes: int
    source: str  # "team", "default" (a row without a team) or "built-in" (settings)


def targets_for(*, team_id: int, urgency: Urgency | str) -> Targets:
    """The team's row for this urgency, else the global default row, else the settings.

    One query, kept until the team's settings change (escalations.team_config).
    """
    row = team_config(
        team_id,
        ("targets", str(urgency)),
        lambda: (
            UrgencyTarget.objects.filter(Q(team_id=team_id) | Q(team__isnull=True), urgency=urgency)
            .order_by(F("team_id").asc(nulls_last=True))
            .first()
        ),
    )
    if row is None:
        built_in = settings.DEFAULT_URGENCY_TARGETS[urgency]
        return Targets(
            built_in["response"], built_in["resolution"], built_in["claim"], built_in["reminder"], "built-in"
        )
    return Targets(
        row.response_minutes,
        row.resolution_minutes,
        row.claim_minutes,
        row.reminder_minutes,
        "team" if row.team_id else "default",
    )


def working_hours_for(*, team_id: int, today: dt.date) -> WorkingHours | None:
    """None when the team works around the clock. Kept until they change (escalations.team_config)."""
    return team_config(team_id, ("hours", today), lambda: _read_working_hours(team_id, today))


def _read_working_hours(team_id: int, today: dt.date) -> WorkingHours | None:
    """One query, three with business hours."""
    hours = (
        BusinessHours.objects.filter(team_id=team_id)
        # Past holidays never matter again; a day of slack for time zones ahead of UTC.
        .prefetch_related(
            "periods", Prefetch("holidays", Holiday.objects.filter(date__gte=today - dt.timedelta(days=1)))
        )
        .first()
    )
    if hours is None:
        return None
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for period in hours.periods.all():
        weekly.setdefault(period.weekday, []).append((period.opens, period.closes))
    return WorkingHours(
        time_zone=ZoneInfo(hours.time_zone),
        weekly={day: tuple(periods) for day, periods in weekly.items()},
        holidays=frozenset(holiday.date for holiday in hours.holidays.all()),
    )


@dataclass(frozen=True)
class DueTimes:
    response_due_at: dt.datetime
    resolution_due_at: dt.datetime


def due_times(*, team_id: int, targets: Targets, start: dt.datetime) -> DueTimes:
    hours = working_hours_for(team_id=team_id, today=start.date())
    return DueTimes(
        response_due_at=add_working_time(start, targets.response_minutes, hours),
        resolution_due_at=add_working_time(start, targets.resolution_minutes, hours),
    )
