"""One subscription per team and process, shared by its console sockets and long-polls.

The receiving end of escalations/broadcast.py. With a channel per socket,
the channel layer hands every socket its own copy of each event, and each
copy wakes that socket's consumer task: a queue, a task, a dispatch and a
send per socket, about 0.3 ms of CPU each on this machine, so an event to
500 sockets kept daphne busy for 150 ms (bench/README.md). Here the process
joins each team's group once, and one loop hands each message to the team's
local listeners, one after the other: console sockets
(supervisors/consumers.py) and agents waiting for an answer
(escalations/api/longpoll.py).

A socket whose consumer is replaying (ConsoleConsumer.resume) holds the live
events that arrive meanwhile and sends them after the replay, so its page
still sees events in id order, each once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol, TypeVar

from channels.layers import get_channel_layer

from escalations.broadcast import team_group

logger = logging.getLogger(__name__)


class Listener(Protocol):
    async def group_message(self, message: dict[str, Any]) -> None: ...


class TeamFanOut:
    """The sockets of one event loop (a daphne process), by team, and the loop that feeds them."""

    # The group a listener joins per key, and the message field naming the key: supervisors.access
    # reuses the class to tell a user's sockets, by user id, that their access changed.
    group_of = staticmethod(team_group)
    key_field = "team_id"

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.listeners: dict[int, set[Listener]] = {}
        # Joins and leaves one at a time: a leave's group_discard finishing after a
        # join's group_add would leave the new socket without its team's events.
        self.membership = asyncio.Lock()
        self.reader: asyncio.Task | None = None

    async def join(self, listener: Listener, team_ids: list[int]) -> None:
        """Returns once the process listens to every team: the socket may accept and replay."""
        async with self.membership:
            if self.channel is None:
                self.channel = await self.layer.new_channel("team-fanout.")
                self.reader = asyncio.create_task(self._read())
            for team_id in team_ids:
                if team_id not in self.listeners:
                    await self.layer.group_add(self.group_of(team_id), self.channel)
                    self.listeners[team_id] = set()
                self.listeners[team_id].add(listener)

    async def leave(self, listener: Listener, team_ids: list[int]) -> None:
        async with self.membership:
            for team_id in team_ids:
                listeners = self.listeners.get(team_id, set())
                listeners.discard(listener)
                if not listeners and team_id in self.listeners:
                    # The last socket of the team here: stop receiving its events.
                    del self.listeners[team_id]
                    await self.layer.group_discard(self.group_of(team_id), self.channel)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                # Listeners catch up by replay (sockets) or by reading the row (long-polls);
                # the loop must outlive a Redis hiccup, or the process goes deaf for good.
                logger.exception("Reading the team fan-out channel failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            for listener in list(self.listeners.get(message.get(self.key_field), ())):
                try:
                    await listener.group_message(message)
                except Exception:
                    # One broken socket must not starve the others of the event.
                    logger.exception("Console socket failed to take a %s message", message.get("type"))


_fan_outs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[type, TeamFanOut]] = (
    weakref.WeakKeyDictionary()
)

F = TypeVar("F", bound=TeamFanOut)


def loop_fan_out(kind: type[F]) -> F:
    """This event loop's fan-out of this kind (daphne runs one loop; each test runs its own)."""
    kinds = _fan_outs.setdefault(asyncio.get_running_loop(), {})
    if kind not in kinds:
        kinds[kind] = kind()
    return kinds[kind]  # type: ignore[return-value]


def team_fan_out() -> TeamFanOut:
    return loop_fan_out(TeamFanOut)
