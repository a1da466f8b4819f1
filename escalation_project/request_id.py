"""One id per HTTP request, websocket connection or Celery task, on every log line it causes.

The id lives in a context variable: asgiref copies the context into the threads
that run sync views and database calls, and asyncio into the tasks a consumer
starts, so everything a request or a socket does logs the same id without
passing it around. Celery tasks enqueued meanwhile carry it in a message header
(escalation_project/celery.py), so a webhook attempt made minutes later in a
worker logs the id of the request that caused it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware

HEADER = "X-Request-ID"
# What a caller may send us: short, and nothing that could forge a log line or a header
# (no spaces, quotes or control characters). Load balancers' ids (UUIDs, hex) fit.
VALID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)

access_logger = logging.getLogger("escalation_project.access")


def current() -> str | None:
    return _current.get()


def new() -> str:
    return uuid.uuid4().hex


def accept(value: str | bytes | None) -> str:
    """The caller's id if it may be trusted and is well-formed (REQUEST_ID_FROM_HEADER), else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and settings.REQUEST_ID_FROM_HEADER and VALID.fullmatch(value):
        return value
    return new()


@contextlib.contextmanager
def bound(request_id: str) -> Iterator[str]:
    token = _current.set(request_id)
    try:
        yield request_id
    finally:
        _current.reset(token)


def bind(request_id: str | None):
    """Set the id for the rest of this context; returns the token for unbind (Celery's pre/post hooks)."""
    return _current.set(request_id)


def unbind(token) -> None:
    _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts request_id (and, inside a Celery task, task_id and task_name) on every record.

    A filter on the handler rather than a LoggerAdapter: records from Django,
    Celery and libraries get the id too, not only ours.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request's lines about 4xx/5xx responses are written after the middleware
            # returned, outside the context, but carry the request itself.
            request = getattr(record, "request", None)
            record.request_id = _current.get() or getattr(request, "request_id", None)
        # Imported here: settings (which configure logging) load before Celery's app.
        from celery import current_task

        task = current_task
        if task and not hasattr(record, "task_id"):
            record.task_id = task.request.id
            record.task_name = task.name
        return True


@sync_and_async_middleware
def RequestIdMiddleware(get_response):  # noqa: N802 (Django's middleware naming)
    """Give each request its id (request.request_id), return it in X-Request-ID, log one access line.

    First in the chain, so every other middleware's log lines carry the id too.
    Async-capable for the reason given in escalation_project/middleware.py.
    """

    def finish(request, response, started: float):
        response[HEADER] = request.request_id
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request):
            started = time.perf_counter()
            request.request_id = accept(request.headers.get(HEADER))
            with bound(request.request_id):
                response = await get_response(request)
                return finish(request, response, started)

    else:

        def middleware(request):
            started = time.perf_counter()
            request.request_id = accept(request.headers.get(HEADER))
            with bound(request.request_id):
                return finish(request, get_response(request), started)

    return middleware


class WebsocketRequestIdMiddleware:
    """ASGI middleware: one id per websocket connection (the handshake's X-Request-ID if trusted).

    Bound around the whole connection, so the consumer's log lines and the
    database calls it makes share it; also in scope["request_id"].
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        header = dict(scope.get("headers") or []).get(HEADER.lower().encode())
        request_id = accept(header)
        with bound(request_id):
            return await self.app({**scope, "request_id": request_id}, receive, send)
