"""Waiting in tests for something to happen, never for a fixed time.

A test that sleeps "long enough" is slow on an idle machine and flaky on a busy one
(these machines run several test runs at once). These helpers poll a condition until
it holds and fail with a message saying what never happened; the timeout only bounds a
failure, so it is generous and no test asserts how long anything took (timings belong
in bench/).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis
from django.conf import settings

from escalations.broadcast import team_group

T = TypeVar("T")

# Generous: other test runs share the machine, and only a failure waits this long.
TIMEOUT = 30

Message = str | Callable[[], str]


def _failure(message: Message, timeout: float) -> AssertionError:
    # A callable message is read only on failure: a worker's log, say, as it was at the end.
    text = message() if callable(message) else message
    return AssertionError(f"Not within {timeout} s: {text}")


def wait_until(
    condition: Callable[[], T], *, message: Message, timeout: float = TIMEOUT, interval: float = 0.05
) -> T:
    """Poll `condition` until it returns something truthy, and return that.

    Raises AssertionError with `message` (a string, or a callable giving one) after
    `timeout` seconds. A condition may itself raise to fail at once (a process that died).
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise _failure(message, timeout)
        time.sleep(interval)
    return value


async def async_wait_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    message: Message,
    timeout: float = TIMEOUT,
    interval: float = 0.01,
) -> T:
    """wait_until for a test's event loop: the loop runs (the server, the sockets) while it polls.

    `condition` may be a plain function or a coroutine function.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _failure(message, timeout)
        await asyncio.sleep(interval)


def team_group_subscribers(team_id: int) -> int:
    """How many processes listen to the team's channel group in Redis (PUBSUB NUMSUB).

    Each daphne process subscribes once per team while a console socket or a long-poll of
    that team is open (escalations/fanout.py), so a count above zero in a test with one
    server and no console page says an agent's long-poll is subscribed and waiting.
    """
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    # The pub/sub channel layer's name for a group (channels_redis.pubsub).
    channel = f"{prefix}__group__{team_group(team_id)}"
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)
