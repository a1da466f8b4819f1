"""Rate limits per credential: each agent key, and each staff user, has its own budget.

Rates come from settings.API_THROTTLE_RATES (env API_RATE_AGENT_KEY,
API_RATE_USER, API_RATE_ANONYMOUS) and are read on each request, so tests and
deployments can change them without reloading DRF's class attributes.

A sliding-window counter in Redis, shared by every daphne process: one
counter per fixed window, and the previous window's count weighted by how
much of it still overlaps the sliding window. One pipelined round trip per
request (INCR, EXPIRE, GET), atomic per counter, so concurrent requests
cannot lose each other's counts (DRF's SimpleRateThrottle reads, appends and
writes back a pickled list of timestamps: racy, and its cost grows with the
rate). A refused request gives its count back, so a client that keeps
retrying while throttled is let in again once the window has moved on.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from agents.models import AgentApiKey
from escalation_project.redis_client import RedisUnavailable, shared_redis

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/minute' -> (600, 60), as DRF spells rates."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


def retry_after(*, limit: int, duration: int, previous: int, current: int, elapsed: float) -> float:
    """Seconds until one more request fits, given the counts without the refused one.

    `elapsed` is the fraction (0..1) of the current window already gone.
    """
    if current < limit:
        # Room appears as the previous window slides out: previous * (1 - f) <= limit - current - 1.
        free = limit - current - 1
        needed_fraction = 1 - free / previous if previous else 0.0
        return max(needed_fraction - elapsed, 0.0) * duration
    # The current window alone is full: wait for the next one, where it counts as "previous".
    needed_fraction = max(1 - (limit - 1) / current, 0.0)
    return (1 - elapsed + needed_fraction) * duration


class CredentialRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        scope, ident = self._who(request)
        rate = settings.API_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, duration = parse_rate(rate)
        position = time.time() / duration
        window = int(position)
        elapsed = position - window
        base = f"{settings.API_THROTTLE_KEY_PREFIX}:{scope}:{ident}"
        current_key = f"{base}:{window}"
        client = shared_redis()
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incr(current_key)
            pipe.expire(current_key, 2 * duration)
            pipe.get(f"{base}:{window - 1}")
            current, _, previous_raw = pipe.execute()
        except RedisError as error:
            # Availability over strictness: an outage of the counters must not stop the agents.
            # (RedisUnavailable: the breaker already logged the timeout, once.)
            if not isinstance(error, RedisUnavailable):
                logger.warning("Rate limit not checked, Redis failed: %s", error)
            return True
        previous = int(previous_raw or 0)
        if previous * (1 - elapsed) + current <= limit:
            return True
        try:
            client.decr(current_key)
        except RedisError:
            pass  # the count expires with its window anyway
        self._wait = retry_after(
            limit=limit, duration=duration, previous=previous, current=current - 1, elapsed=elapsed
        )
        return False

    def wait(self) -> float | None:
        # DRF rounds up for the Retry-After header; never promise "retry in 0 s".
        return None if self._wait is None else max(self._wait, 1.0)

    def _who(self, request) -> tuple[str, str]:
        if isinstance(request.auth, AgentApiKey):
            return "agent_key", f"key-{request.auth.pk}"
        if request.user and request.user.is_authenticated:
            return "user", f"user-{request.user.pk}"
        return "anonymous", f"ip-{self.get_ident(request)}"
