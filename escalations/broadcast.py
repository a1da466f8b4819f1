"""Pushes committed events to the team's channel group (the live console listens there).

Called only from transaction.on_commit in escalations/outbox.py. A failed broadcast is
logged, never raised: the Event row is already committed, and a console that
missed it catches up by replaying events after the last id it saw.

The channel layer is asyncio code and keeps one Redis connection per event
loop. `async_to_sync` from plain sync code would make a new loop, hence a new
connection, for every publish (measured: 4.7 ms each). So each process keeps
one publisher loop in a background thread and hands it the sends (0.2 ms).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from escalation_project.redis_client import note_redis_failure, redis_is_down

logger = logging.getLogger(__name__)


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def event_frame(event) -> dict[str, Any]:
    """What a console socket sends for one event, live or replayed (see supervisors.consumers)."""
    return {
        "type": "event",
        "id": event.id,
        "event_type": event.type,
        "escalation_id": event.escalation_id,
        "team_id": event.team_id,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }


def event_message(event) -> dict[str, Any]:
    """The group message; `type` routes it to the consumer's handler.

    The frame travels encoded, ready to send: the layer hands every socket of
    a process its own copy, and decoding the payload and encoding it again per
    socket was ~16 µs of each delivery (bench/README.md).
    """
    return {
        "type": "escalation.event",
        "event_id": event.id,
        "event_type": event.type,
        "escalation_id": event.escalation_id,  # the API's long-poll waits on these two
        "team_id": event.team_id,
        "frame": json.dumps(event_frame(event)),
    }


def publish_event(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if redis_is_down():
        # A frozen Redis timed out a moment ago: the request answers now, consoles replay later.
        logger.warning("Broadcast of event %s skipped: Redis is not answering.", message["event_id"])
        return
    send = layer.group_send(team_group(message["team_id"]), message)
    try:
        # Waiting keeps publishes in commit order and reports failures here. The layer's
        # own socket timeout bounds it too; this bounds the wait for a send queued behind one.
        _publisher_loop().run(send, timeout=settings.REDIS_TIMEOUT_MS / 1000)
    except Exception as error:
        note_redis_failure(error)
        logger.warning(
            "Broadcast of event %s failed (%s); consoles will catch up by replay.",
            message["event_id"],
            error or type(error).__name__,
        )


def publish_soon(group: str, message: dict[str, Any]) -> None:
    """Send `message` to a channel group without waiting for it: for a request path (a logout, an
    admin save) that must not hang on a slow Redis. A failure is logged."""
    layer = get_channel_layer()
    if layer is None:
        return
    send = asyncio.wait_for(layer.group_send(group, message), settings.REDIS_TIMEOUT_MS / 1000)
    _publisher_loop().submit(send).add_done_callback(_log_failed_send)


def _log_failed_send(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        error = future.exception()
        note_redis_failure(error)
        logger.warning("A channel layer message was not sent (%s).", error or type(error).__name__)


class _PublisherLoop:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="event-publisher", daemon=True)
        thread.start()

    def run(self, coroutine, *, timeout: float) -> Any:
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # or the next sends would queue behind it on the layer's lock
            raise

    def submit(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_publisher: _PublisherLoop | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> _PublisherLoop:
    global _publisher
    with _publisher_lock:
        # A forked process (a Celery pool worker) inherits the object but not the thread.
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _PublisherLoop()
        return _publisher
