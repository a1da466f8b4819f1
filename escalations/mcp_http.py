"""/mcp/: the MCP server (escalations/mcp_tools.py) over Streamable HTTP, on the product's ASGI app.

Routed beside Django by escalation_project/asgi.py, so daphne serves it with
everything else: no second server to run. Each request is authenticated here
with the agent's API key, by the REST API's own check (AgentKeyAuthentication):
a missing or bad key is a 401 in the API's error shape before the SDK sees
the request.

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
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from rest_framework import exceptions

from agents.models import Agent
from escalation_project.api.auth import INVALID, AgentKeyAuthentication
from escalation_project.api.errors import error_body
from escalations import mcp_tools

logger = logging.getLogger(__name__)


_manager: StreamableHTTPSessionManager | None = None
_manager_lock = asyncio.Lock()
_manager_task: asyncio.Task | None = None


def _authenticate(authorization: str) -> Agent | None:
    """The agent of `Authorization: Bearer ak_…`, checked exactly as the REST API checks it."""
    request = HttpRequest()
    request.META["HTTP_AUTHORIZATION"] = authorization
    try:
        found = AgentKeyAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
    finally:
        if not connection.in_atomic_block:
            connection.close()
    return found[0].agent if found else None


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


async def _running_manager() -> StreamableHTTPSessionManager:
    global _manager, _manager_task
    async with _manager_lock:
        if _manager is None:
            manager = _new_manager()
            started = asyncio.Event()

            async def run() -> None:
                async with manager.run():
                    started.set()
                    await asyncio.Future()  # until the process ends

            _manager_task = asyncio.create_task(run(), name="mcp-session-manager")
            await started.wait()
            _manager = manager
    return _manager


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
    headers = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    agent = await sync_to_async(_authenticate)(authorization) if authorization else None
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
