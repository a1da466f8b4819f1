"""Reads done once per request and shared by everything that renders it.

A console page asks "which teams is this user in?" from the view, the
selectors and the header tag, and the queue and the header both count the
active escalations. Passing those through every signature would couple the
header tag to each view; instead RequestMemoMiddleware opens a memo for the
request and `memoized` keeps the first answer in it.

Outside a request (services called by Celery, a websocket consumer, tests
calling a selector directly) there is no memo and every call reads afresh,
so a long-lived user object never carries stale memberships.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import TypeVar

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

T = TypeVar("T")

# A ContextVar, not a thread-local: under ASGI the view runs in a worker thread
# and asgiref carries the request's context (and so this dict) into it.
_memo: ContextVar[dict[Hashable, object] | None] = ContextVar("request_memo", default=None)


def memoized(key: Hashable, read: Callable[[], T]) -> T:
    """`read()` once per request for `key`; outside a request, every time."""
    memo = _memo.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]  # type: ignore[return-value]


@sync_and_async_middleware
def RequestMemoMiddleware(get_response):  # noqa: N802 (Django's middleware naming)
    if iscoroutinefunction(get_response):

        async def middleware(request):
            token = _memo.set({})
            try:
                return await get_response(request)
            finally:
                _memo.reset(token)

    else:

        def middleware(request):
            token = _memo.set({})
            try:
                return get_response(request)
            finally:
                _memo.reset(token)

    return middleware
