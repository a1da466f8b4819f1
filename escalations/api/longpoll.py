"""GET /api/v1/escalations/{id}/?wait=N: answer when the escalation is final, or after N seconds.

An async view, so a waiting agent holds neither a worker thread nor a
database connection: each read runs in sync_to_async and gives its
connection back; the wait itself is an await on the channel layer, where
services publish every committed event to the team's group.

Order matters: read once (auth, scope, the team to listen to), subscribe,
read again, then wait. An answer committed between the first read and the
subscription is seen by the second read; one committed after it arrives as
a message. A lost message only costs the wait: the final read is from the
database either way. The subscription is the process's shared one per team
(escalations/fanout.py), not a channel per waiting request.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from escalations.api.serializers import caller
from escalations.api.views import EscalationDetail, fresh_body
from escalations.fanout import team_fan_out
from escalations.models import FINAL_STATUSES, EventType

logger = logging.getLogger(__name__)

FINAL_EVENT_TYPES = frozenset({EventType.RESOLVED, EventType.DISMISSED, EventType.WITHDRAWN})

_detail = EscalationDetail.as_view()


def _give_back_connection() -> None:
    # Inside an outer transaction (a test's) the connection is not ours to close.
    if not connection.in_atomic_block:
        connection.close()


def _first_read(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        response = _detail(request, pk=pk)
        response.render()
        return response
    finally:
        _give_back_connection()


def _read(pk: int, scope: dict) -> dict:
    try:
        return fresh_body(pk, scope)
    finally:
        _give_back_connection()


def _wait_seconds(request: HttpRequest) -> int:
    try:
        return max(0, min(int(request.GET.get("wait", "0")), settings.API_LONG_POLL_MAX_SECONDS))
    except ValueError:
        return 0  # the sync view has already answered 400


class _AnswerListener:
    """Set when the team's messages say escalation `pk` reached a final state."""

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self.answered = asyncio.Event()

    async def group_message(self, message: dict) -> None:
        if message.get("escalation_id") == self.pk and message.get("event_type") in FINAL_EVENT_TYPES:
            self.answered.set()


async def escalation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    response = await sync_to_async(_first_read)(request, pk)
    wait = _wait_seconds(request)
    if wait == 0 or response.status_code != 200 or response.data["status"] in FINAL_STATUSES:
        return response
    # The caller, as the first read authenticated it.
    body = await wait_until_final(
        pk, team_id=response.data["team"]["id"], scope=caller(request), seconds=wait
    )
    return response if body is None else JsonResponse(body)


async def wait_until_final(pk: int, *, team_id: int, scope: dict, seconds: float) -> dict | None:
    """The escalation's body once it is final, or as it is after `seconds`.

    Call only for an escalation the caller of `scope` may see (after a scoped read).
    None when the channel layer cannot be reached: the caller answers with what it has.
    Also the MCP server's wait (escalations/mcp_tools.py), in slices.
    """
    listener = _AnswerListener(pk)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        await team_fan_out().join(listener, [team_id])
    except Exception as error:  # Redis unreachable: answer with what we know rather than a 500
        logger.warning("Long-poll of escalation %s cannot subscribe (%r); answering at once.", pk, error)
        return None
    try:
        body = await sync_to_async(_read)(pk, scope)
        while body["status"] not in FINAL_STATUSES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(listener.answered.wait(), remaining)
            except TimeoutError:
                break
            listener.answered.clear()
            body = await sync_to_async(_read)(pk, scope)
    finally:
        try:
            await team_fan_out().leave(listener, [team_id])
        except Exception as error:
            logger.warning("Long-poll of escalation %s could not unsubscribe: %r", pk, error)
    return body


# For the OpenAPI schema only: drf-spectacular documents the DRF view that does the reading.
escalation_detail.cls = EscalationDetail  # type: ignore[attr-defined]
escalation_detail.initkwargs = {}  # type: ignore[attr-defined]
