"""When Celery beat last sent, and a worker last ran, the heartbeat task (escalation_project/celery.py).

Kept in Redis, which every process reaches: /readyz and /metrics read it from
any daphne. Writing never raises: a heartbeat lost while Redis is down only
makes the next reading older.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from escalation_project.redis_client import shared_redis

logger = logging.getLogger(__name__)

ROLES = ("beat", "worker")


def _key(role: str) -> str:
    return f"{settings.HEARTBEAT_KEY_PREFIX}:{role}"


def record(role: str) -> None:
    try:
        # Expires: a deployment that stopped running beat reads "never" rather than a date.
        shared_redis().set(_key(role), repr(time.time()), ex=settings.HEARTBEAT_STALE_SECONDS * 10)
    except Exception:  # redis-py's errors vary (connection, timeout, readonly replica)
        logger.warning("Could not record the %s heartbeat in Redis.", role, exc_info=True)


def ages() -> dict[str, float | None]:
    """Seconds since each role's last heartbeat (None: none recorded). Raises if Redis is down."""
    now = time.time()
    values = shared_redis().mget([_key(role) for role in ROLES])
    return {
        role: None if value is None else max(now - float(value), 0.0)
        for role, value in zip(ROLES, values, strict=True)
    }
