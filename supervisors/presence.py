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
from collections.abc import Iterable

from django.conf import settings

from escalation_project.redis_client import shared_redis


def _key(team_id: int) -> str:
    return f"{settings.PRESENCE_KEY_PREFIX}:team:{team_id}"


def _member(user_id: int, connection_id: str) -> str:
    return f"{user_id}:{connection_id}"


def presence_join(*, team_ids: Iterable[int], user_id: int, connection_id: str) -> None:
    """Mark one socket of `user_id` online in each team (also what a heartbeat does)."""
    now = time.time()
    ttl = settings.PRESENCE_TTL_SECONDS
    pipe = shared_redis().pipeline(transaction=False)
    for team_id in team_ids:
        key = _key(team_id)
        pipe.zadd(key, {_member(user_id, connection_id): now})
        # Stale members are dropped on write so the set stays as small as the live sockets...
        pipe.zremrangebyscore(key, "-inf", now - ttl)
        # ... and a team nobody watches any more does not leave its key behind.
        pipe.expire(key, ttl * 2)
    pipe.execute()


def presence_touch(*, team_ids: Iterable[int], user_id: int, connection_id: str) -> None:
    """A heartbeat: the same write as joining (the score is the time of the last sign of life)."""
    presence_join(team_ids=team_ids, user_id=user_id, connection_id=connection_id)


def presence_leave(*, team_ids: Iterable[int], user_id: int, connection_id: str) -> None:
    pipe = shared_redis().pipeline(transaction=False)
    for team_id in team_ids:
        pipe.zrem(_key(team_id), _member(user_id, connection_id))
    pipe.execute()


def _user_ids(members: Iterable[bytes]) -> set[int]:
    return {int(member.split(b":", 1)[0]) for member in members}


def online_user_ids(team_id: int) -> set[int]:
    since = time.time() - settings.PRESENCE_TTL_SECONDS
    return _user_ids(shared_redis().zrangebyscore(_key(team_id), since, "+inf"))


def online_counts(team_ids: Iterable[int]) -> dict[int, int]:
    """Distinct online users per team, in one round trip (the console header asks for all its teams)."""
    team_ids = list(team_ids)
    since = time.time() - settings.PRESENCE_TTL_SECONDS
    pipe = shared_redis().pipeline(transaction=False)
    for team_id in team_ids:
        pipe.zrangebyscore(_key(team_id), since, "+inf")
    return {
        team_id: len(_user_ids(members)) for team_id, members in zip(team_ids, pipe.execute(), strict=True)
    }
