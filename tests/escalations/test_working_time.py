"""Targets count working time only: across evenings, weekends, holidays and a DST change."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from escalations.working_time import WorkingHours, add_working_time

PARIS = ZoneInfo("Europe/Paris")
NINE_TO_FIVE = ((dt.time(9), dt.time(17)),)


def paris_week(holidays=(), **extra_days) -> WorkingHours:
    weekly = {day: NINE_TO_FIVE for day in range(5)}  # Monday to Friday
    weekly.update(extra_days)
    return WorkingHours(time_zone=PARIS, weekly=weekly, holidays=frozenset(holidays))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_without_working_hours_every_minute_counts():
    assert add_working_time(utc("2026-11-28 10:00"), 90, None) == utc("2026-11-28 11:30")


def test_inside_a_working_day_the_minutes_are_added_as_they_are():
    # Wednesday 10:00 Paris (09:00 UTC) + 60 min
    assert add_working_time(utc("2026-11-25 09:00"), 60, paris_week()) == utc("2026-11-25 10:00")


def test_friday_afternoon_carries_over_the_weekend_to_monday_morning():
    # Friday 16:00 Paris: one hour that day, one more from Monday 09:00 -> Monday 10:00 Paris.
    assert add_working_time(utc("2026-11-27 15:00"), 120, paris_week()) == utc("2026-11-30 09:00")


def test_a_holiday_friday_and_the_weekend_are_skipped():
    # Thursday 24 Dec 16:30 Paris: 30 min that day; Friday 25 Dec is a holiday; the weekend;
    # the other 30 min on Monday 28 Dec from 09:00 -> 09:30 Paris (08:30 UTC).
    hours = paris_week(holidays=[dt.date(2026, 12, 25)])
    assert add_working_time(utc("2026-12-24 15:30"), 60, hours) == utc("2026-12-28 08:30")


def test_a_start_at_the_weekend_counts_from_the_next_opening():
    # Saturday noon -> Monday 09:00 Paris + 15 min.
    assert add_working_time(utc("2026-11-28 11:00"), 15, paris_week()) == utc("2026-11-30 08:15")


def test_a_start_before_opening_counts_from_the_opening():
    # Tuesday 07:00 Paris -> 09:00 + 30 min.
    assert add_working_time(utc("2026-11-24 06:00"), 30, paris_week()) == utc("2026-11-24 08:30")


def test_a_lunch_break_does_not_count():
    split = ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(17)))
    hours = WorkingHours(time_zone=PARIS, weekly={day: split for day in range(5)})
    # Monday 11:30 Paris + 60 min: 30 before lunch, 30 after -> 13:30 Paris (12:30 UTC).
    assert add_working_time(utc("2026-11-30 10:30"), 60, hours) == utc("2026-11-30 12:30")


def test_the_switch_to_summer_time_over_a_weekend_keeps_local_opening_hours():
    # Friday 27 March 16:00 CET (15:00 UTC); clocks go forward on Sunday 29 March;
    # Monday 10:00 CEST is 08:00 UTC.
    assert add_working_time(utc("2026-03-27 15:00"), 120, paris_week()) == utc("2026-03-30 08:00")


def test_closing_at_midnight_means_the_end_of_the_day():
    hours = WorkingHours(time_zone=dt.UTC, weekly={5: ((dt.time(20), dt.time(0)),)})  # Saturdays 20:00-24:00
    assert add_working_time(utc("2026-11-28 23:00"), 90, hours) == utc("2026-12-05 20:30")


def test_a_long_target_spans_several_working_days():
    # 8 working hours a day: 20 hours from Monday 09:00 Paris end Wednesday 13:00 Paris.
    assert add_working_time(utc("2026-11-30 08:00"), 20 * 60, paris_week()) == utc("2026-12-02 12:00")


@pytest.mark.parametrize("weekly", [{}, {0: ()}])
def test_a_week_without_working_periods_counts_every_minute(weekly):
    hours = WorkingHours(time_zone=PARIS, weekly=weekly)
    assert add_working_time(utc("2026-11-28 10:00"), 30, hours) == utc("2026-11-28 10:30")
