"""/mcp/: the MCP server (escalations/mcp_tools.py) over Streamable HTTP, on the product's ASGI app.

Routed beside Django by escalation_project/asgi.py, so daphne serves it with
everything else: no second server to run. Each request is authenticated here
with the agent's API key, by the REST API's own check (AgentKeyAuthentication):
a missing or bad key is a 401 in the API's error shape before the SDK sees
the request, and a key over its rate limit (shared with the REST API) a 429.
Django's middleware does not run for /mcp/, so what of it applies is done here:
the ALLOWED_HOSTS check, the request id and the access log line.

The SDK runs stateless, with SSE answers: each POST stands alone (any daphne
process can serve any request; nothing to keep between them), and a tool that
waits streams its progress notifications on the POST's own response.
The SDK's session manager needs a task group that outlives each request, which
a Starlette app would open in its lifespan; daphne sends no lifespan events, so
the first request opens it, once per process, in a task of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from rest_framework import exceptions

from agents.models import Agent, AgentApiKey
from escalation_project import request_id as request_ids
from escalation_project.api.auth import INVALID, AgentKeyAuthentication
from escalation_project.api.errors import error_body
from escalation_project.api.throttling import CredentialRateThrottle
from escalations import mcp_tools

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Caller:
    """What CredentialRateThrottle reads of a request: the key row it counts against."""

    auth: AgentApiKey
    user: None = None


def _authenticate(authorization: str) -> tuple[Agent | None, float | None]:
    """The agent of `Authorization: Bearer ak_…`, checked exactly as the REST API checks it, and
    the REST API's rate limit for its key (one budget per key, whichever way it calls): the agent
    and None, or None and the seconds to wait."""
    request = HttpRequest()
    request.META["HTTP_AUTHORIZATION"] = authorization
    try:
        found = AgentKeyAuthentication().authenticate(request)
        if found is None:
            return None, None
        principal, key_row = found
        throttle = CredentialRateThrottle()
        if not throttle.allow_request(_Caller(auth=key_row), None):
            return None, throttle.wait()
        return principal.agent, None
    except exceptions.AuthenticationFailed:
        return None, None
    finally:
        if not connection.in_atomic_block:
            connection.close()


def _new_manager() -> StreamableHTTPSessionManager:
    # The SDK makes its session manager along with a Starlette app (unused: we route ourselves).
    # Stateless: each POST stands alone. No host/origin check of the SDK's: its DNS-rebinding
    # guard is for servers a browser page reaches with ambient credentials; every request here
    # carries its agent key, which such a page does not have (Django's ALLOWED_HOSTS still applies
    # to the rest of the site).
    mcp_tools.server.streamable_http_app(
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return mcp_tools.server.session_manager


class _Running:
    """The SDK's session manager of one event loop (daphne has one), and the task running it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.manager: StreamableHTTPSessionManager | None = None
        self.task: asyncio.Task | None = None


_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Running] = weakref.WeakKeyDictionary()


async def _running_manager() -> StreamableHTTPSessionManager:
    running = _running.setdefault(asyncio.get_running_loop(), _Running())
    async with running.lock:
        if running.manager is not None and running.task is not None and not running.task.done():
            return running.manager
        if running.task is not None:
            # Its task group ended (a crash inside the SDK): its requests would all fail.
            logger.error("The MCP session manager had stopped; starting a new one.")
        manager = _new_manager()
        started = asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await asyncio.Future()  # until the process ends

        running.task = asyncio.create_task(run(), name="mcp-session-manager")
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({running.task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiting.cancel()
            running.task.result()  # raises why it could not start
        running.manager = manager
        return manager


async def _send_json(send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def mcp_app(scope: dict[str, Any], receive, send) -> None:
    """One request id on every log line the call causes, and the access line Django's requests get
    (escalation_project/request_id.py): Django's middleware does not run here."""
    started = time.perf_counter()
    status = 0

    async def send_noting_status(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            message = {
                **message,
                "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())],
            }
        await send(message)

    header = dict(scope.get("headers") or []).get(request_ids.HEADER.lower().encode())
    with request_ids.bound(request_ids.accept(header)) as request_id:
        try:
            await _serve(scope, receive, send_noting_status)
        finally:
            request_ids.access_logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def _allowed_host(host: str) -> bool:
    """Django's ALLOWED_HOSTS check, which Django's own requests get from HttpRequest.get_host()."""
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


async def _serve(scope: dict[str, Any], receive, send) -> None:
    headers = dict(scope.get("headers") or [])
    if not _allowed_host(headers.get(b"host", b"").decode("latin-1")):
        await _send_json(send, 400, error_body("invalid", "This server does not answer to that Host."), [])
        return
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    agent, wait = await sync_to_async(_authenticate)(authorization) if authorization else (None, None)
    if wait is not None:
        throttled = exceptions.Throttled(wait)
        retry_after = str(math.ceil(wait)).encode()
        await _send_json(
            send, 429, error_body("throttled", str(throttled.detail)), [(b"retry-after", retry_after)]
        )
        return
    if agent is None:
        await _send_json(
            send, 401, error_body("not_authenticated", INVALID), [(b"www-authenticate", b"Bearer")]
        )
        return
    # The SDK's request tasks start from this one, so they see the agent (context variables are copied).
    token = mcp_tools.calling_agent.set(agent)
    try:
        manager = await _running_manager()
        await manager.handle_request(scope, receive, send)
    finally:
        mcp_tools.calling_agent.reset(token)


def is_mcp_path(path: str) -> bool:
    return path in ("/mcp", "/mcp/")
