"""Which supervisors have a console open, per team, from the open sockets.

One Redis sorted set per team: member "<user id>:<connection id>", score the
time of that socket's last heartbeat. A socket adds itself on connect,
refreshes on every client ping and removes itself on disconnect; a browser
that is killed never disconnects cleanly, so readers ignore entries older
than PRESENCE_TTL_SECONDS instead of trusting the set. One member per
connection, not per user, so closing one of two tabs keeps the user online.

Redis, not the database: every process of every daphne writes here, and the
writes are per heartbeat. Calls are blocking (the shared sync client); the
consumer runs them in a worker thread. The counts they return are announced to
the team's pages from here too (`announce`), throttled per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from prometheus_client.metrics_core import GaugeMetricFamily
from redis.client import Pipeline

from agents.models import Agent
from escalation_project.redis_client import redis_is_down, shared_redis
from escalations.broadcast import publish_soon, team_group
from supervisors.models import Membership, Team

logger = logging.getLogger(__name__)


def _key(team_id: int) -> str:
    return f"{settings.PRESENCE_KEY_PREFIX}:team:{team_id}"


def _member(user_id: int, connection_id: str) -> str:
    return f"{user_id}:{connection_id}"


class Snapshot(NamedTuple):
    """A team's online count as of one write; `version` orders snapshots of the same team.

    Sockets announce their own arrivals and departures, and two announcements
    made from different processes can reach a page in either order; without
    the version, the older count could overwrite the newer one until the next change.
    """

    online: int
    version: int


def _write(team_ids: Iterable[int], change: Callable[[Pipeline, str], None]) -> dict[int, Snapshot]:
    team_ids = list(team_ids)
    since = time.time() - settings.PRESENCE_TTL_SECONDS
    # MULTI/EXEC: the count and the version of a team are read in the same instant as the change.
    pipe = shared_redis().pipeline(transaction=True)
    for team_id in team_ids:
        key = _key(team_id)
        change(pipe, key)
        # Stale members are dropped on write, so the set stays as small as the live sockets.
        pipe.zremrangebyscore(key, "-inf", f"({since}")
        pipe.zrangebyscore(key, since, "+inf")
        # No expiry on the version: a version that restarted at 1 would read as older.
        pipe.incr(f"{key}:version")
    replies = pipe.execute()
    # Per team: the change's replies, then ZREMRANGEBYSCORE, ZRANGEBYSCORE, INCR.
    per_team = len(replies) // len(team_ids) if team_ids else 0
    snapshots = {}
    for index, team_id in enumerate(team_ids):
        members, version = replies[(index + 1) * per_team - 2 : (index + 1) * per_team]
        snapshots[team_id] = Snapshot(online=len(_user_ids(members)), version=int(version))
    return snapshots


def presence_join(*, team_ids: Iterable[int], user_id: int, connection_id: str) -> dict[int, Snapshot]:
    """Mark one socket of `user_id` online in each team; returns each team's count after it."""
    ttl = settings.PRESENCE_TTL_SECONDS
    member = _member(user_id, connection_id)

    def add(pipe: Pipeline, key: str) -> None:
        pipe.zadd(key, {member: time.time()})
        # A team nobody watches any more does not leave its set behind.
        pipe.expire(key, ttl * 2)

    return _write(team_ids, add)


def presence_touch(*, team_ids: Iterable[int], user_id: int, connection_id: str) -> None:
    """A heartbeat: the same write as joining (the score is the time of the last sign of life)."""
    presence_join(team_ids=team_ids, user_id=user_id, connection_id=connection_id)


def presence_leave(*, team_ids: Iterable[int], user_id: int, connection_id: str) -> dict[int, Snapshot]:
    """Remove one socket; returns each team's count after it."""
    member = _member(user_id, connection_id)
    return _write(team_ids, lambda pipe, key: pipe.zrem(key, member))


def _user_ids(members: Iterable[bytes]) -> set[int]:
    return {int(member.split(b":", 1)[0]) for member in members}


def online_user_ids(team_id: int) -> set[int]:
    since = time.time() - settings.PRESENCE_TTL_SECONDS
    return _user_ids(shared_redis().zrangebyscore(_key(team_id), since, "+inf"))


def online_members_by_team(team_ids: Iterable[int]) -> dict[int, set[bytes]]:
    """The live sockets ("<user id>:<connection id>") of each team, in one round trip."""
    team_ids = list(team_ids)
    since = time.time() - settings.PRESENCE_TTL_SECONDS
    pipe = shared_redis().pipeline(transaction=False)
    for team_id in team_ids:
        pipe.zrangebyscore(_key(team_id), since, "+inf")
    return {team_id: set(members) for team_id, members in zip(team_ids, pipe.execute(), strict=True)}


def online_user_ids_by_team(team_ids: Iterable[int]) -> dict[int, set[int]]:
    """The online users of each team, in one round trip."""
    return {team_id: _user_ids(members) for team_id, members in online_members_by_team(team_ids).items()}


def online_counts(team_ids: Iterable[int]) -> dict[int, int]:
    """Distinct online users per team, in one round trip (the console header asks for all its teams)."""
    return {team_id: len(users) for team_id, users in online_user_ids_by_team(team_ids).items()}


# --- Announcements: a team's pages hear its online count ---------------------------


def uncovered_team_ids(team_ids: Iterable[int], *, online: dict[int, set[int]] | None = None) -> set[int]:
    """Of these teams, the ids of those that can escalate while nobody on duty is online.

    "Can escalate": an agent with escalation on. "Online": a console open
    (online_user_ids_by_team). One database query for the agents, one for the
    memberships, one Redis round trip unless `online` is given; raises
    redis.RedisError when presence cannot be read. Here rather than in selectors
    because each announcement sends it (team_uncovered).
    """
    escalating = set(
        Agent.objects.filter(team_id__in=list(team_ids), escalation_enabled=True)
        .order_by()  # without Agent's default ordering, DISTINCT is over team ids alone
        .values_list("team_id", flat=True)
        .distinct()
    )
    if not escalating:
        return set()
    if online is None:  # the console header passes what it already read
        online = online_user_ids_by_team(sorted(escalating))
    on_duty = Membership.objects.filter(team_id__in=escalating, on_duty=True, user__is_active=True)
    covered = {
        team_id
        for team_id, user_id in on_duty.values_list("team_id", "user_id")
        if user_id in online.get(team_id, ())
    }
    return escalating - covered


def team_uncovered(team_id: int) -> bool | None:
    """Whether the team can escalate with nobody on duty online; None when that cannot be read.

    Sent with each announcement: the header's "uncovered" follows who is online (and on
    duty), so a page must hear it with the count, not only on reload.
    """
    try:
        return team_id in uncovered_team_ids([team_id])
    except Exception:  # an announcement goes out regardless, with the count alone
        logger.warning("Coverage unavailable for a presence announcement.", exc_info=True)
        return None


class PresenceAnnouncer:
    """Tells a team's pages its online count, at most once per PRESENCE_ANNOUNCE_MS per process.

    Every arrival and departure changes the count, and each announcement goes to
    every socket of the team: 500 supervisors opening the console at a shift
    change would be 500 × 500 frames, enough to stall daphne past its handshake
    timeout. Only the newest count matters (snapshots carry a version), so the
    first change in a window schedules one announcement at its end, which sends
    the newest snapshot seen by then, and whether the team is uncovered as read
    then (`coverage`; leave it out to send counts alone).
    """

    def __init__(self, coverage: Callable[[int], bool | None] | None = None) -> None:
        self._newest: dict[int, Snapshot] = {}
        self._scheduled: dict[int, asyncio.Task] = {}
        self._coverage = database_sync_to_async(coverage) if coverage is not None else None

    def offer(self, channel_layer, team_id: int, snapshot: Snapshot) -> None:
        newest = self._newest.get(team_id)
        if newest is None or snapshot.version > newest.version:
            self._newest[team_id] = snapshot
        scheduled = self._scheduled.get(team_id)
        # A task of another event loop (each test runs its own) will never run here.
        loop = asyncio.get_running_loop()
        if scheduled is not None and not scheduled.done() and scheduled.get_loop() is loop:
            return
        self._scheduled[team_id] = asyncio.create_task(self._announce_later(channel_layer, team_id))

    async def _announce_later(self, channel_layer, team_id: int) -> None:
        await asyncio.sleep(settings.PRESENCE_ANNOUNCE_MS / 1000)
        # Taken before the send, so a change during it schedules the next announcement.
        snapshot = self._newest.pop(team_id)
        del self._scheduled[team_id]
        message: dict = {"type": "presence.changed", "team_id": team_id, "online": snapshot.online}
        if self._coverage is not None and (uncovered := await self._coverage(team_id)) is not None:
            message["uncovered"] = uncovered
        await channel_layer.group_send(team_group(team_id), {**message, "version": snapshot.version})


presence_announcer = PresenceAnnouncer(coverage=team_uncovered)


def announce_coverage(team_ids: Iterable[int]) -> None:
    """Tell the teams' pages their count and coverage now, from a request: going on or off duty
    changes who covers a team while nobody arrives or leaves. Call after the change commits.

    The version comes from the same counter as the sockets' announcements, so whichever
    reaches a page last with the higher version is the one it shows.
    """
    if redis_is_down():  # a frozen Redis timed out a moment ago: the switch answers now
        return
    try:
        snapshots = _write(team_ids, lambda pipe, key: None)
    except Exception:  # Redis away: the pages catch up at the next arrival or reload
        logger.warning("Presence unavailable: on-duty change not announced.", exc_info=True)
        return
    for team_id, snapshot in snapshots.items():
        message: dict = {"type": "presence.changed", "team_id": team_id, "online": snapshot.online}
        if (uncovered := team_uncovered(team_id)) is not None:
            message["uncovered"] = uncovered
        publish_soon(team_group(team_id), {**message, "version": snapshot.version})


def announce(snapshots: dict[int, Snapshot]) -> None:
    """Tell each team's pages its count after a join or leave (call from the event loop)."""
    for team_id, snapshot in snapshots.items():
        presence_announcer.offer(get_channel_layer(), team_id, snapshot)


# --- Gauges for /metrics (registered by supervisors.apps; escalation_project/metrics.py asks) ---


def presence_gauges() -> Iterable[GaugeMetricFamily]:
    """Open console sockets, in all and per team, and the people behind them, per team."""
    slugs = dict(Team.objects.values_list("id", "slug"))
    members = online_members_by_team(list(slugs))
    per_team = GaugeMetricFamily(
        "console_websocket_connections_by_team",
        "Open console sockets per team (a socket counts in each of its user's teams).",
        labels=["team"],
    )
    users = GaugeMetricFamily(
        "console_supervisors_online", "People with a console open, per team.", labels=["team"]
    )
    every_socket: set[bytes] = set()
    for team_id, team_members in sorted(members.items(), key=lambda item: slugs[item[0]]):
        per_team.add_metric([slugs[team_id]], len(team_members))
        users.add_metric([slugs[team_id]], len({member.split(b":", 1)[0] for member in team_members}))
        every_socket.update(team_members)
    yield GaugeMetricFamily(
        "console_websocket_connections",
        "Open console sockets, every daphne process together (from presence; heartbeat "
        "within PRESENCE_TTL_SECONDS).",
        value=len(every_socket),
    )
    yield per_team
    yield users
