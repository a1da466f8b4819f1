"""GET /readyz: may this daphne take traffic? Each dependency is tried for real, at once.

200 "ok" when the database, the cache, the channel layer and the Celery broker
all answer; 503 "unavailable" when the database does not; 200 "degraded" when
only the Redis-backed ones fail, with `failed` naming them either way. Every
daphne shares one Redis, and the product keeps working without it (sign-in,
the queue, answers and creates; live updates and enqueues wait for the sweep),
so taking every daphne out of the load balancer for a Redis outage would turn
a degraded console into no console. The checks run concurrently,
each bounded by CHECK_TIMEOUT_SECONDS, so a dependency that hangs costs one
timeout rather than the sum of them.

Beat's and the workers' heartbeats (escalation_project/heartbeats.py) are
reported under `background` but do not make this process unready: readiness
takes a daphne out of the load balancer, and a stopped worker is not mended by
taking every daphne out at once. Alert on `celery_heartbeat_age_seconds` instead.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from escalation_project import heartbeats

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 3.0
# The checks whose failure makes this daphne unready: without its database it can serve nothing.
ESSENTIAL = {"database"}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    # A write and a read: a cache that accepts connections but cannot store is not ready.
    cache.set("readyz:probe", "1", timeout=10)
    if cache.get("readyz:probe") != "1":
        raise RuntimeError("the cache did not return what was just stored")


async def _channel_layer() -> None:
    # A message to a channel nobody listens on: the layer's connection to Redis is used
    # for real, and no consumer is disturbed.
    await get_channel_layer().send("readyz.probe", {"type": "readyz.probe"})


def _broker() -> None:
    from escalation_project.celery import app

    with app.connection_for_write() as broker:
        # One try, not kombu's retry loop: a readiness probe wants an answer now.
        broker.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT_SECONDS)


CHECKS = {
    # The request's own thread: Django's connections belong to a thread.
    "database": sync_to_async(_database),
    # Any thread: these hold no per-thread state, so they run beside the database check.
    "cache": sync_to_async(_cache, thread_sensitive=False),
    "channel_layer": _channel_layer,
    "broker": sync_to_async(_broker, thread_sensitive=False),
}


async def _outcome(name: str, check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("Readiness: %s did not answer within %s s.", name, CHECK_TIMEOUT_SECONDS)
        return f"failed: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as error:  # any failure means "not ready"; the message says which
        logger.warning("Readiness: %s failed.", name, exc_info=True)
        return f"failed: {type(error).__name__}"
    return "ok"


def _background() -> dict[str, dict]:
    try:
        ages = heartbeats.ages()
    except Exception as error:  # Redis down: the cache or broker check names it already
        return {role: {"status": f"unknown: {type(error).__name__}"} for role in heartbeats.ROLES}
    report = {}
    for role, seconds in ages.items():
        if seconds is None:
            report[role] = {"status": "never seen", "seconds_ago": None}
        else:
            fresh = seconds <= settings.HEARTBEAT_STALE_SECONDS
            report[role] = {"status": "ok" if fresh else "late", "seconds_ago": round(seconds, 1)}
    return report


async def readyz(request):
    outcomes = await asyncio.gather(*(_outcome(name, check) for name, check in CHECKS.items()))
    checks = dict(zip(CHECKS, outcomes, strict=True))
    failed = [name for name, outcome in checks.items() if outcome != "ok"]
    unready = bool(ESSENTIAL.intersection(failed))
    background = await sync_to_async(_background, thread_sensitive=False)()
    return JsonResponse(
        {
            "status": "unavailable" if unready else "degraded" if failed else "ok",
            "checks": checks,
            "failed": failed,
            "background": background,
        },
        status=503 if unready else 200,
    )
