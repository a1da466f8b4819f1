"""The console's websocket (/ws/console/): live events of the user's teams, replay, presence.

Server → browser:
    {"type": "event", "id", "event_type", "escalation_id", "team_id", "created_at", "data"}
    {"type": "resumed", "last_id": N}      after a replay; N is the newest id sent (or `after`)
    {"type": "reload"}                     too much was missed: re-read the list instead
    {"type": "presence", "team_id", "online": n, "uncovered": bool}   (uncovered left out when unknown)
    {"type": "pong"}
    {"type": "error", "message": "..."}    the socket stays open
    close 4401                             not signed in (any more): logged out, deactivated, ...
    close 4403                             signed in, but no longer a member of any team it watched
Browser → server:
    {"type": "resume", "after": <last event id seen>}
    {"type": "ping"}                       a heartbeat; keeps the user online (every ~20 s)

The channel layer may drop messages (and a reconnect always misses some), so
the Event id is the truth: a page that reconnects asks for what came after
the last id it saw, and console.js sends the same resume with every heartbeat,
so a silently dropped event is caught within one interval.

Access is checked again whenever it may have changed (supervisors/access.py):
on an access.changed message, on every resume, and on a ping when no check ran
for ACCESS_RECHECK_SECONDS. A check closes the socket or re-scopes it to exactly
the teams the user may still watch; a live event is also dropped at send time
unless its team is one of those.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from escalation_project.text_checks import loads_checked
from escalations import selectors as escalation_selectors
from escalations.broadcast import event_frame
from escalations.fanout import team_fan_out
from supervisors import presence
from supervisors.access import ACCESS_CHANGED, session_digest, socket_access, user_fan_out
from supervisors.selectors import console_team_ids

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# A ping checks access when no check ran for this long. The page's heartbeat sends a resume with
# every ping, and each resume checks, so this only bounds a client that sends pings alone.
ACCESS_RECHECK_SECONDS = 30
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
    # No channel of its own: the socket takes its teams' messages from the process's
    # shared subscription (escalations/fanout.py), which calls group_message().
    channel_layer_alias = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch first runs close_old_connections in the shared sync thread,
        # for consumers that use the async ORM: a thread hop per browser message (every
        # heartbeat of every socket), serialised through one thread. Every ORM call here
        # goes through database_sync_to_async, which closes connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            logger.info("Console socket refused: not signed in.")
            # Accepted, then closed: a close before accept is an HTTP 403 at the handshake, which
            # a browser reports as a bare network error, so console.js could not tell "signed
            # out" (go to the login page) from "server away" (retry). The Origin check outside
            # (escalation_project.asgi) still refuses a foreign page at the handshake.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.session_key = self.scope["session"].session_key
        self.connection_id = uuid.uuid4().hex
        self.delivered: OrderedDict[int, None] = OrderedDict()
        self.presence_versions: dict[int, int] = {}
        # While a replay runs, live events wait here (see resume()).
        self.held: list[dict[str, Any]] | None = None
        # One access check or re-scope at a time, and none once the socket is going.
        self.access_lock = asyncio.Lock()
        self.closing = False
        # Before the teams are read: a change committed after this read reaches the socket.
        await user_fan_out().join(self, [user.pk])
        self.checked_at = time.monotonic()
        self.team_ids = await database_sync_to_async(console_team_ids)(user)
        self.visible = set(self.team_ids)
        # Listening before accept: the page's resume then covers everything up to the live stream.
        await team_fan_out().join(self, self.team_ids)
        await self.accept()
        snapshots = await _run_blocking(presence.presence_join)(
            team_ids=self.team_ids, user_id=user.pk, connection_id=self.connection_id
        )
        self._announce_presence(snapshots)
        # The line's request_id is the connection's (escalation_project/request_id.py).
        logger.info(
            "Console socket opened by %s",
            user.get_username(),
            extra={"user_id": user.pk, "team_ids": self.team_ids, "connection_id": self.connection_id},
        )

    async def disconnect(self, code: int) -> None:
        if getattr(self, "team_ids", None) is None:  # refused in connect(): joined nothing
            return
        logger.info(
            "Console socket closed (code %s)",
            code,
            extra={"user_id": self.user.pk, "connection_id": self.connection_id, "close_code": code},
        )
        async with self.access_lock:  # after a re-scope under way, so its teams are left too
            self.closing = True
            await user_fan_out().leave(self, [self.user.pk])
            await self._leave(self.team_ids)

    # Browser → server

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        # The default raises, which closes the socket; bad input gets an error message instead.
        # loads_checked: 3,000 nested brackets were a RecursionError that closed it anyway.
        try:
            return loads_checked(text_data)
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
            if time.monotonic() - self.checked_at > ACCESS_RECHECK_SECONDS and not await self.check_access():
                return
            await _run_blocking(presence.presence_touch)(
                team_ids=self.team_ids, user_id=self.user.pk, connection_id=self.connection_id
            )
            await self.send_json({"type": "pong"})
        else:
            await self._error(f"Unknown message type {kind!r}; expected 'resume' or 'ping'.")

    async def resume(self, after: Any) -> None:
        """Send the visible events after id `after`, oldest first, then "resumed" (or "reload").

        Live events that arrive meanwhile are held and sent after the replay, so
        they come after "resumed". One committed just before the query is both
        in the replay and held; the delivered-ids memory drops the second copy.
        One committed after the query has a higher id (ids follow commit order)
        and is not in the replay, so it is sent once, live.
        """
        # bool is an int in Python; `true` is not an event id.
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error("'after' must be a non-negative integer event id.")
            return
        # Every time: a replay reads the database, and must not serve a session that ended or
        # a team the user left, even if the access.changed message was lost.
        if not await self.check_access():
            return
        self.held = []
        try:
            events = await database_sync_to_async(escalation_selectors.events_after)(
                user=self.user, after=after, limit=REPLAY_LIMIT + 1
            )
            if len(events) > REPLAY_LIMIT:
                await self.send_json({"type": "reload"})
                return
            last_id = after
            for event in events:
                last_id = event.id
                if event.team_id in self.visible and self._first_delivery(event.id):
                    await self.send_json(event_frame(event))
            await self.send_json({"type": "resumed", "last_id": last_id})
        finally:
            held, self.held = self.held, None
            for message in held:
                await self.group_message(message)

    # Process fan-out → browser

    async def group_message(self, message: dict[str, Any]) -> None:
        """A message of one of the socket's teams, from the process's subscription (fanout.py),
        or of its user (supervisors.access)."""
        if message["type"] == "escalation.event":
            # The fan-out hands the socket only its teams' events, but a team it just lost may
            # still be in the fan-out's list while the socket leaves it (or closes).
            if message["team_id"] not in self.visible:
                return
            if self.held is not None:
                self.held.append(message)
            elif self._first_delivery(message["event_id"]):
                await self.send(text_data=message["frame"])  # encoded once by the publisher
        elif message["type"] == "presence.changed":
            await self._presence_changed(message)
        elif message["type"] == ACCESS_CHANGED:
            if message.get("ended") == session_digest(self.session_key):
                await self._close_for(CLOSE_UNAUTHENTICATED, "its session ended")
            else:
                await self.check_access()

    # Access

    async def check_access(self) -> bool:
        """Re-read the session and the teams; close, or re-scope to exactly those teams.

        Returns whether the socket is still open.
        """
        async with self.access_lock:
            if self.closing:
                return False
            access = await database_sync_to_async(socket_access)(
                session_key=self.session_key, user_id=self.user.pk
            )
            self.checked_at = time.monotonic()
            if access.user is None:
                await self._close_for(CLOSE_UNAUTHENTICATED, "no longer signed in")
                return False
            self.user = access.user  # is_superuser too is as of now, for the replay's query
            if self.team_ids and not access.team_ids:
                await self._close_for(CLOSE_FORBIDDEN, "no longer a member of its teams")
                return False
            if access.team_ids != self.team_ids:
                await self._rescope(access.team_ids)
            return True

    async def _rescope(self, team_ids: list[int]) -> None:
        """Watch exactly `team_ids` from now on; call holding access_lock."""
        lost = [team_id for team_id in self.team_ids if team_id not in team_ids]
        gained = [team_id for team_id in team_ids if team_id not in self.team_ids]
        self.visible = set(team_ids)  # first: nothing of a lost team goes out from here on
        logger.info(
            "Console socket re-scoped",
            extra={"user_id": self.user.pk, "connection_id": self.connection_id, "team_ids": team_ids},
        )
        if lost:
            await self._leave(lost)
        if gained:
            await team_fan_out().join(self, gained)
            snapshots = await _run_blocking(presence.presence_join)(
                team_ids=gained, user_id=self.user.pk, connection_id=self.connection_id
            )
            self._announce_presence(snapshots)
        self.team_ids = team_ids
        # The page still shows the rows of a team it lost (or lacks those of one it gained).
        await self.send_json({"type": "reload"})

    async def _leave(self, team_ids: list[int]) -> None:
        await team_fan_out().leave(self, team_ids)
        snapshots = await _run_blocking(presence.presence_leave)(
            team_ids=team_ids, user_id=self.user.pk, connection_id=self.connection_id
        )
        self._announce_presence(snapshots)

    async def _close_for(self, code: int, why: str) -> None:
        """Close now, sending nothing more; disconnect() then leaves the groups. Needs no lock:
        it only ever narrows what the socket sends."""
        self.visible = set()
        self.closing = True
        logger.info(
            "Console socket closed by the server: %s",
            why,
            extra={"user_id": self.user.pk, "connection_id": self.connection_id, "close_code": code},
        )
        await self.close(code=code)

    async def _presence_changed(self, message: dict[str, Any]) -> None:
        team_id, version = message["team_id"], message["version"]
        # An announcement older than one already shown would put back a stale count.
        if version <= self.presence_versions.get(team_id, 0):
            return
        self.presence_versions[team_id] = version
        frame = {"type": "presence", "team_id": team_id, "online": message["online"]}
        if "uncovered" in message:
            frame["uncovered"] = message["uncovered"]
        await self.send_json(frame)

    # Helpers

    def _first_delivery(self, event_id: int) -> bool:
        """Remember `event_id` as sent; False if it already was (see resume())."""
        if event_id in self.delivered:
            return False
        self.delivered[event_id] = None
        if len(self.delivered) > DELIVERED_MEMORY:
            self.delivered.popitem(last=False)
        return True

    def _announce_presence(self, snapshots: dict[int, presence.Snapshot]) -> None:
        presence.announce(snapshots)

    async def _error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
