"""The timers: one sweep, run by Celery beat, finds due work by indexed queries and acts through the services.

Each timer is a due column, the condition under which a row can fall due (the
condition of its partial index on Escalation) and the service that acts. The
sweep reads due rows in batches in (due, id) order: one query per batch,
whatever the batch size. The service acts on a whole batch in one transaction
with a constant number of statements (one UPDATE, one history INSERT, one
event INSERT ...; see the timers' verbs in escalations/services.py), so a
sweep's statements grow with the number of batches, not of due escalations.
Every action re-checks its condition under the row locks, so running the sweep
twice, two sweeps at once, or again after a worker died half-way changes
nothing more than one sweep.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from escalations import services
from escalations.models import TIMER_CONDITIONS, TIMER_DUE_FIELDS, Escalation
from escalations.team_config import stamps_read_once


@dataclass(frozen=True)
class Timer:
    name: str  # a key of TIMER_CONDITIONS: its rows, due column and partial index
    act: Callable[[list[int], dt.datetime], int]  # (escalation ids, now) -> how many it acted on

    @property
    def condition(self) -> Q:
        return TIMER_CONDITIONS[self.name]

    @property
    def due_field(self) -> str:
        return TIMER_DUE_FIELDS[self.name]


# Lambdas, so a test's patch of a service is seen.
def _breach(target: str) -> Callable[[list[int], dt.datetime], int]:
    return lambda pks, now: services.mark_breached(escalation_ids=pks, target=target, now=now)


def _time_out(pks: list[int], now: dt.datetime) -> int:
    return services.time_out(escalation_ids=pks, now=now)


def _remind(pks: list[int], now: dt.datetime) -> int:
    return services.remind(escalation_ids=pks, now=now)


# In this order, so one sweep leaves nothing for a second one at the same moment: a
# lapsed claim is released first (it may then be past its response target), the
# breaches are recorded next, and the reminders last (they follow the breach they
# remind of, and go to whoever holds the escalation after an expiry).
TIMERS = (
    Timer("claim_expiry", lambda pks, now: services.expire_claim(escalation_ids=pks, now=now)),
    Timer("response_breach", _breach("response")),
    Timer("resolution_breach_open", _breach("resolution")),
    Timer("resolution_breach_claimed", _breach("resolution")),
    # A timeout closes the escalation: after its breach is recorded, before any reminder.
    Timer("timeout_open", _time_out),
    Timer("timeout_claimed", _time_out),
    # After the expiries (a lapsed claim may start a climb at once) and the timeouts (a
    # closed escalation does not climb).
    Timer("ladder", lambda pks, now: services.climb(escalation_ids=pks, now=now)),
    Timer("reminder_open", _remind),
    Timer("reminder_claimed", _remind),
)


def due_batch(timer: Timer, *, now: dt.datetime, after: tuple[dt.datetime, int] | None, limit: int):
    """Up to `limit` (due, id) pairs of rows due at `now`, after `after` in (due, id) order. One query."""
    due = timer.due_field
    rows = Escalation.objects.filter(timer.condition, **{f"{due}__lte": now})
    if after is not None:
        rows = rows.filter(Q(**{f"{due}__gt": after[0]}) | Q(**{due: after[0], "pk__gt": after[1]}))
    return list(rows.order_by(due, "pk").values_list(due, "pk")[:limit])


def sweep(*, now: dt.datetime | None = None, batch_size: int | None = None, max_seconds: float | None = None):
    """Act on everything due at `now`; returns how many actions each timer took.

    Stops reading new batches after `max_seconds`; what is left waits for the next sweep.
    Rows skipped because another transaction held them are not re-read in this sweep
    (the keyset moves past them) but stay due for the next one.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.TIMER_SWEEP_BATCH
    deadline = time.monotonic() + (max_seconds or settings.TIMER_SWEEP_MAX_SECONDS)
    acted: dict[str, int] = {}
    with stamps_read_once():  # each team's settings stamp read once per sweep, not per escalation
        for timer in TIMERS:
            acted[timer.name] = 0
            after = None
            while time.monotonic() < deadline:
                batch = due_batch(timer, now=now, after=after, limit=batch_size)
                if batch:
                    acted[timer.name] += timer.act([pk for _, pk in batch], now)
                if len(batch) < batch_size:
                    break
                after = batch[-1]
    return acted
