"""A team's configuration as the hot paths read it, kept for a few seconds per process.

Targets, working hours, the team policy and the ladder change only in the admin or
the configuration API, while every escalation opened reads them (five queries of a
create's sixteen). Each process keeps what it read for TEAM_CONFIG_SECONDS; a save
or delete of any of those rows in this process forgets everything at once
(escalations.apps connects the signals), so another process sees a change within
that many seconds. Values are shared between requests and threads: read them,
never change them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")

_kept: dict[Hashable, tuple[float, object]] = {}


def team_config(key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, or what it gave for `key` less than TEAM_CONFIG_SECONDS ago."""
    now = time.monotonic()
    kept = _kept.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]  # type: ignore[return-value]
    value = read()
    _kept[key] = (now + settings.TEAM_CONFIG_SECONDS, value)
    return value


def forget_team_config(**kwargs) -> None:
    """Drop everything kept: a signal receiver for saves and deletes of configuration rows."""
    _kept.clear()
