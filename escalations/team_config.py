"""A team's configuration as the hot paths read it, kept per process until it changes.

Targets, working hours, the team policy and the ladder change only through
escalations.team_settings (the admin, the configuration API, the demo); the team's
labels through agents.services, its webhook endpoints through webhooks.services. Every
event and every escalation opened reads them. Each write bumps Team.settings_version in
its own transaction; each read here first reads that stamp (one primary-key query) and
reuses what it kept for the team while the stamp is the one it was read under.

Why a stamp rather than signals and a timeout (what this replaced): a change made in
any process is seen by every other at once, with no window of seconds where a new
target or ladder is ignored, and nothing to broadcast or forget by hand; it is the
scheme the rules' matcher already uses (Agent.rules_version, agents.engine.cache).
Its cost: one indexed query per unit of work, against the one to three queries of each
part of the configuration; inside `stamps_read_once()` each team's stamp is read once
(a timer sweep), or not at all when the unit of work has read the team already: an API
request's agent key check joins the agent's team, and post_message's locked read of the
conversation joins it too, so a create or a message reads no stamp of its own
(tests/api/test_statements.py).

Values are shared between requests and threads: read them, never change them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from django.conf import settings

from supervisors.models import Team

T = TypeVar("T")

# team id -> (stamp, {key: value}). created_at is in the stamp because a test database
# (or a restored backup) can reuse a team id, as for the matcher cache.
_kept: dict[int, tuple[object, dict[Hashable, object]]] = {}
# Keys carry a date (working hours): past days pile up until the team's settings change.
# Past this many a team's entries start over, so a long-lived process stays small.
MAX_KEYS_PER_TEAM = 64

# Inside stamps_read_once(): team id -> the stamp read there. A context variable, so each
# thread (and each asyncio task) has its own.
_stamps: ContextVar[dict[int, object] | None] = ContextVar("team_config_stamps", default=None)


@contextmanager
def stamps_read_once(*known: Team) -> Iterator[None]:
    """Within this block each team's stamp is read once: a sweep over sixty escalations of
    one team costs one stamp query, not sixty. A change committed meanwhile is seen by the
    next block; use it around one unit of work (a sweep, one opening: also a decorator),
    not around a long-lived loop.

    `known`: teams already read in this unit of work (the agent key's check joins its
    agent's team; post_message's locked read joins it too), whose stamps then cost no query.
    Inside an outer block the outer one's stamps are used and added to: an opening inside
    post_message reads no stamp post_message has.
    """
    outer = _stamps.get()
    if outer is not None:
        for team in known:
            outer.setdefault(team.pk, _stamp_of(team))
        yield
        return
    token = _stamps.set({team.pk: _stamp_of(team) for team in known})
    try:
        yield
    finally:
        _stamps.reset(token)


def _stamp_of(team: Team) -> object:
    """The stamp as _stamp reads it, from a Team row read in this unit of work."""
    return (team.settings_version, team.created_at)


def _stamp(team_id: int) -> object:
    memo = _stamps.get()
    if memo is not None and team_id in memo:
        return memo[team_id]
    # Not .first(): that would add ORDER BY and LIMIT to a primary-key lookup.
    stamp = next(iter(Team.objects.filter(pk=team_id).values_list("settings_version", "created_at")), None)
    if memo is not None:
        memo[team_id] = stamp
    return stamp


def team_config(team_id: int, key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, or what it gave for (team_id, key) under the team's current settings stamp."""
    if not settings.TEAM_CONFIG_KEPT:
        return read()
    stamp = _stamp(team_id)
    kept = _kept.get(team_id)
    if kept is None or kept[0] != stamp or len(kept[1]) >= MAX_KEYS_PER_TEAM:
        kept = (stamp, {})
        _kept[team_id] = kept  # a dict write is atomic under the GIL; a race reads twice at worst
    values = kept[1]
    if key in values:
        return values[key]  # type: ignore[return-value]
    value = read()
    values[key] = value
    return value


def forget_team_config() -> None:
    """Drop everything kept (tests: each starts with nothing)."""
    _kept.clear()
