"""Adding a target's minutes to a moment, counting only a team's working time. Pure: no ORM."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

# A week whose every working day is a holiday for this long has no working time
# to find: the target then counts wall-clock time rather than never falling due.
_LOOKAHEAD_DAYS = 2 * 366
_MIDNIGHT = dt.time(0)


@dataclass(frozen=True)
class WorkingHours:
    """`weekly`: weekday (0 = Monday) -> (opens, closes) periods, local time; closes 00:00 is midnight."""

    time_zone: ZoneInfo
    weekly: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)


def add_working_time(start: dt.datetime, minutes: float, hours: WorkingHours | None) -> dt.datetime:
    """The moment `minutes` of working time after `start` (aware), in UTC.

    Without working hours (or with an empty week) every minute counts.
    """
    target = dt.timedelta(minutes=minutes)
    start = start.astimezone(dt.UTC)
    if hours is None or not any(hours.weekly.values()):
        return start + target
    remaining = target
    cursor = start
    day = start.astimezone(hours.time_zone).date()
    for _ in range(_LOOKAHEAD_DAYS):
        if day not in hours.holidays:
            for opens, closes in sorted(hours.weekly.get(day.weekday(), ())):
                # Arithmetic in UTC: subtracting two datetimes of one ZoneInfo ignores DST changes.
                period_start = _at(day, opens, hours.time_zone)
                period_end = _at(
                    day + dt.timedelta(days=1) if closes == _MIDNIGHT else day, closes, hours.time_zone
                )
                begin = max(period_start, cursor)
                if begin >= period_end:
                    continue
                if period_end - begin >= remaining:
                    return begin + remaining
                remaining -= period_end - begin
                cursor = period_end
        day += dt.timedelta(days=1)
    return start + target


def _at(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=zone).astimezone(dt.UTC)
