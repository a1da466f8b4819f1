"""Which supervisors have a console open, per team, from the open sockets.

One Redis sorted set per team: member "<user id>:<connection id>", score the
time of that socket's last heartbeat. A socket adds itself on connect,
refreshes on every client ping and removes itself on disconnect; a browser
that is killed never disconnects cleanly, so readers ignore entries older
than PRESENCE_TTL_SECONDS instead of trusting the set. One member per
connection, not per user, so closing one of two tabs keeps the user online.

Redis, not the database: every process of every daphne writes here, and the
writes are per heartbeat. Calls are blocking (the shared sync client); the
consumer runs them in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.conf import settings
from redis.client import Pipeline

from escalation_project.redis_client import shared_redis


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
