"""One Redis client per process for our own small commands (rate-limit counters).

redis-py clients are thread-safe and keep a connection pool, so one client
serves every request thread. Django's Redis cache builds a new client object
per call and, under ASGI where each request runs on a new thread, a new
connection per request too: measured ~1 ms of CPU per request, which is why
the API's counters do not go through the cache framework.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_client: redis.Redis | None = None
_url: str | None = None
_lock = threading.Lock()


def shared_redis() -> redis.Redis:
    """The process's client for settings.REDIS_URL (made on first use; redis-py reconnects after a fork)."""
    global _client, _url
    client = _client
    if client is not None and _url == settings.REDIS_URL:
        return client  # the hot path (every API request's rate limit): no lock
    with _lock:
        if _client is None or _url != settings.REDIS_URL:
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            _url = settings.REDIS_URL
        return _client
