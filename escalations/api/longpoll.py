"""GET /api/v1/escalations/{id}/?wait=N: answer when the escalation is final, or after N seconds.

An async view, so a waiting agent holds neither a worker thread nor a
database connection: each read runs in sync_to_async and gives its
connection back; the wait itself is an await on the channel layer, where
services publish every committed event to the team's group.

Order matters: read once (auth, scope, the team to listen to), subscribe,
read again, then wait. An answer committed between the first read and the
subscription is seen by the second read; one committed after it arrives as
a message. A lost message only costs the wait: the final read is from the
database either way.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from escalations.api.views import EscalationDetail, fresh_body
from escalations.broadcast import team_group
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


def _read(pk: int) -> dict:
    try:
        return fresh_body(pk)
    finally:
        _give_back_connection()


def _wait_seconds(request: HttpRequest) -> int:
    try:
        return max(0, min(int(request.GET.get("wait", "0")), settings.API_LONG_POLL_MAX_SECONDS))
    except ValueError:
        return 0  # the sync view has already answered 400


async def escalation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    response = await sync_to_async(_first_read)(request, pk)
    wait = _wait_seconds(request)
    if wait == 0 or response.status_code != 200 or response.data["status"] in FINAL_STATUSES:
        return response
    layer = get_channel_layer()
    if layer is None:
        return response
    group = team_group(response.data["team"]["id"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    try:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
    except Exception as error:  # Redis unreachable: answer with what we know rather than a 500
        logger.warning("Long-poll of escalation %s cannot subscribe (%r); answering at once.", pk, error)
        return response
    try:
        body = await sync_to_async(_read)(pk)
        while body["status"] not in FINAL_STATUSES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(layer.receive(channel), remaining)
            except TimeoutError:
                break
            if message.get("escalation_id") == pk and message.get("event_type") in FINAL_EVENT_TYPES:
                body = await sync_to_async(_read)(pk)
    finally:
        try:
            await layer.group_discard(group, channel)
        except Exception as error:
            logger.warning("Long-poll of escalation %s could not unsubscribe: %r", pk, error)
    return JsonResponse(body)


# For the OpenAPI schema only: drf-spectacular documents the DRF view that does the reading.
escalation_detail.cls = EscalationDetail  # type: ignore[attr-defined]
escalation_detail.initkwargs = {}  # type: ignore[attr-defined]
