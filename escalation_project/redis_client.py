"""Redis for this process: one shared client, short timeouts, and a breaker for a Redis that hangs.

redis-py clients are thread-safe and keep a connection pool, so one client
serves every request thread. Django's Redis cache builds a new client object
per call and, under ASGI where each request runs on a new thread, a new
connection per request too: measured ~1 ms of CPU per request, which is why
the API's counters do not go through the cache framework.

Redis is a transport and a cache here; the database is the source of truth,
so every request path goes on without Redis (issue 14). A stopped Redis
refuses connections at once, but a frozen one (SIGSTOP, a lost network)
answers nothing: every call would wait its whole timeout, and a request
makes several (rate limit, broadcast, webhook enqueue, metrics). So the first
call that times out opens a breaker: for REDIS_RETRY_SECONDS every call
through this module fails at once with RedisUnavailable, then one is tried
for real again. Only timeouts open it: a refused connection is already fast.

The one place for these choices: the shared client, the cache
(FailOpenRedisCache) and the Celery and channel-layer callers (which ask
redis_is_down() first and report with note_redis_failure()) all use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.client import Pipeline

logger = logging.getLogger(__name__)

_client: redis.Redis | None = None
_url: str | None = None
_lock = threading.Lock()

# time.monotonic() until which Redis counts as down; 0: not known to be down.
_down_until = 0.0


class RedisUnavailable(redis.exceptions.ConnectionError):
    """Raised without trying while the breaker is open: Redis timed out a moment ago."""


def redis_timeouts() -> dict[str, float]:
    """Socket options for every Redis connection this project opens (settings.REDIS_TIMEOUT_MS)."""
    seconds = settings.REDIS_TIMEOUT_MS / 1000
    return {"socket_connect_timeout": seconds, "socket_timeout": seconds}


def redis_is_down() -> bool:
    return time.monotonic() < _down_until


def _is_timeout(error: BaseException | None) -> bool:
    # Kombu and asyncio wrap the socket's timeout in their own errors: look down the chain.
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, TimeoutError | redis.exceptions.TimeoutError):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def note_redis_failure(error: BaseException) -> None:
    """Report a failed Redis call; a timeout opens the breaker for REDIS_RETRY_SECONDS."""
    global _down_until
    if isinstance(error, RedisUnavailable) or not _is_timeout(error):
        return
    already_down = redis_is_down()
    _down_until = time.monotonic() + settings.REDIS_RETRY_SECONDS
    if not already_down:
        logger.warning(
            "Redis did not answer within %s ms (%s); not trying it again for %s s.",
            settings.REDIS_TIMEOUT_MS,
            error or type(error).__name__,
            settings.REDIS_RETRY_SECONDS,
        )


def reset_breaker() -> None:
    """Forget a past timeout (tests; a process that knows Redis is back)."""
    global _down_until
    _down_until = 0.0


@contextmanager
def guarded() -> Iterator[None]:
    """Fail at once while the breaker is open; open it when the call inside times out."""
    if redis_is_down():
        raise RedisUnavailable("Redis timed out moments ago; not tried again yet.")
    try:
        yield
    except Exception as error:
        note_redis_failure(error)
        raise


class GuardedRedis(redis.Redis):
    """A redis-py client whose commands and pipelines go through the breaker."""

    def execute_command(self, *args, **options):
        with guarded():
            return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        return GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class GuardedPipeline(Pipeline):
    def execute(self, raise_on_error: bool = True) -> list[Any]:
        with guarded():
            return super().execute(raise_on_error)


def shared_redis() -> redis.Redis:
    """The process's client for settings.REDIS_URL (made on first use; redis-py reconnects after a fork)."""
    global _client, _url
    client = _client
    if client is not None and _url == settings.REDIS_URL:
        return client  # the hot path (every API request's rate limit): no lock
    with _lock:
        if _client is None or _url != settings.REDIS_URL:
            _client = GuardedRedis.from_url(settings.REDIS_URL, **redis_timeouts())
            _url = settings.REDIS_URL
        return _client


# --- The cache (settings.CACHES) ------------------------------------------------------------


class _GuardedCacheClient(RedisCacheClient):
    def __init__(self, servers, **options) -> None:
        super().__init__(servers, **options)
        self._client = GuardedRedis


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache, through the breaker, that misses instead of raising when Redis fails.

    Everything cached here can be computed again from the database (the console's
    counts), so a failed read is a miss and a failed write is skipped: the page is
    slower, not broken. `incr` still raises, since no value would be right.
    """

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _GuardedCacheClient

    @staticmethod
    def _fail_open(operation: str, default: Any, call, *args) -> Any:
        try:
            return call(*args)
        except redis.RedisError as error:
            # Not one line per request while the breaker is open: it logged the timeout once.
            if not isinstance(error, RedisUnavailable):
                logger.warning("Cache %s failed, going on without it: %s", operation, error)
            return default

    def get(self, key, default=None, version=None):
        return self._fail_open("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._fail_open("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._fail_open("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._fail_open("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._fail_open("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # On failure: the keys not set, i.e. all of them.
        return self._fail_open("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._fail_open("touch", False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._fail_open("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        self._fail_open("delete_many", None, super().delete_many, keys, version)
