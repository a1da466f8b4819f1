"""The console's websocket (/ws/console/): live events of the user's teams, replay, presence.

Server → browser:
    {"type": "event", "id", "event_type", "escalation_id", "team_id", "created_at", "data"}
    {"type": "resumed", "last_id": N}      after a replay; N is the newest id sent (or `after`)
    {"type": "reload"}                     too much was missed: re-read the list instead
    {"type": "presence", "team_id", "online": n}
    {"type": "pong"}
    {"type": "error", "message": "..."}    the socket stays open
Browser → server:
    {"type": "resume", "after": <last event id seen>}
    {"type": "ping"}                       a heartbeat; keeps the user online (every ~20 s)

The channel layer may drop messages (and a reconnect always misses some), so
the Event id is the truth: a page that reconnects asks for what came after
the last id it saw, and console.js sends the same resume with every heartbeat,
so a silently dropped event is caught within one interval.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from escalations import selectors as escalation_selectors
from escalations.broadcast import event_frame, team_group
from supervisors import presence
from supervisors.selectors import console_team_ids

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# More missed events than this and the page reloads its list: cheaper than
# pushing hundreds of card updates, and the list view is the source of truth.
REPLAY_LIMIT = 500
# Ids already sent on this socket, remembered to drop the second copy of an
# event that both a replay and the live stream carry (see resume()). Only a
# short window matters: a duplicate arrives within one replay's duration.
DELIVERED_MEMORY = 2 * REPLAY_LIMIT


def _run_blocking(function):
    # Redis calls are quick but blocking; thread_sensitive=False keeps them off
    # the single thread that database_sync_to_async shares.
    return sync_to_async(function, thread_sensitive=False)


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch first runs close_old_connections in the shared sync thread,
        # for consumers that use the async ORM: one thread hop per message per socket,
        # serialised through one thread. With 500 sockets that was a third of daphne's
        # CPU and most of an event's fan-out time (bench/README.md). Every ORM call
        # here goes through database_sync_to_async, which closes connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            logger.info("Console socket refused: not signed in.")
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.connection_id = uuid.uuid4().hex
        self.delivered: OrderedDict[int, None] = OrderedDict()
        self.team_ids = await database_sync_to_async(console_team_ids)(user)
        # Groups before accept: the page's resume then covers everything up to the live stream.
        for team_id in self.team_ids:
            await self.channel_layer.group_add(team_group(team_id), self.channel_name)
        self.presence_versions: dict[int, int] = {}
        await self.accept()
        snapshots = await _run_blocking(presence.presence_join)(
            team_ids=self.team_ids, user_id=user.pk, connection_id=self.connection_id
        )
        await self._announce_presence(snapshots)
        # The line's request_id is the connection's (escalation_project/request_id.py).
        logger.info(
            "Console socket opened by %s",
            user.get_username(),
            extra={"user_id": user.pk, "team_ids": self.team_ids, "connection_id": self.connection_id},
        )

    async def disconnect(self, code: int) -> None:
        team_ids = getattr(self, "team_ids", None)
        if team_ids is None:  # refused in connect(): joined nothing
            return
        logger.info(
            "Console socket closed (code %s)",
            code,
            extra={"user_id": self.user.pk, "connection_id": self.connection_id, "close_code": code},
        )
        for team_id in team_ids:
            await self.channel_layer.group_discard(team_group(team_id), self.channel_name)
        snapshots = await _run_blocking(presence.presence_leave)(
            team_ids=team_ids, user_id=self.user.pk, connection_id=self.connection_id
        )
        await self._announce_presence(snapshots)

    # Browser → server

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        # The default raises, which closes the socket; bad input gets an error message instead.
        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if text_data is None:
            await self._error("Send JSON text frames.")
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs) -> None:
        if not isinstance(content, dict):
            await self._error("Send a JSON object with a type.")
            return
        kind = content.get("type")
        if kind == "resume":
            await self.resume(content.get("after"))
        elif kind == "ping":
            await _run_blocking(presence.presence_touch)(
                team_ids=self.team_ids, user_id=self.user.pk, connection_id=self.connection_id
            )
            await self.send_json({"type": "pong"})
        else:
            await self._error(f"Unknown message type {kind!r}; expected 'resume' or 'ping'.")

    async def resume(self, after: Any) -> None:
        """Send the visible events after id `after`, oldest first, then "resumed" (or "reload").

        A consumer handles one message at a time, so live events that arrive
        meanwhile wait in the channel layer and are handled after this returns:
        they come after "resumed". One committed just before the query is both
        in the replay and queued live; the delivered-ids memory drops the second
        copy. One committed after the query has a higher id (ids follow commit
        order) and is not in the replay, so it is sent once, live.
        """
        # bool is an int in Python; `true` is not an event id.
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error("'after' must be a non-negative integer event id.")
            return
        events = await database_sync_to_async(escalation_selectors.events_after)(
            user=self.user, after=after, limit=REPLAY_LIMIT + 1
        )
        if len(events) > REPLAY_LIMIT:
            await self.send_json({"type": "reload"})
            return
        last_id = after
        for event in events:
            last_id = event.id
            if self._first_delivery(event.id):
                await self.send_json(event_frame(event))
        await self.send_json({"type": "resumed", "last_id": last_id})

    # Channel layer → browser (handlers named after the group message types)

    async def escalation_event(self, message: dict[str, Any]) -> None:
        if self._first_delivery(message["event_id"]):
            await self.send(text_data=message["frame"])  # encoded once by the publisher

    async def presence_changed(self, message: dict[str, Any]) -> None:
        team_id, version = message["team_id"], message["version"]
        # An announcement older than one already shown would put back a stale count.
        if version <= self.presence_versions.get(team_id, 0):
            return
        self.presence_versions[team_id] = version
        await self.send_json({"type": "presence", "team_id": team_id, "online": message["online"]})

    # Helpers

    def _first_delivery(self, event_id: int) -> bool:
        """Remember `event_id` as sent; False if it already was (see resume())."""
        if event_id in self.delivered:
            return False
        self.delivered[event_id] = None
        if len(self.delivered) > DELIVERED_MEMORY:
            self.delivered.popitem(last=False)
        return True

    async def _announce_presence(self, snapshots: dict[int, presence.Snapshot]) -> None:
        for team_id, snapshot in snapshots.items():
            await self.channel_layer.group_send(
                team_group(team_id),
                {
                    "type": "presence.changed",
                    "team_id": team_id,
                    "online": snapshot.online,
                    "version": snapshot.version,
                },
            )

    async def _error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
