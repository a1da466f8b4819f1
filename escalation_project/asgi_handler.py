"""Django's ASGI handler, with the request threads kept instead of made anew.

Django runs each HTTP request's sync code (middleware, views, signals) on a
thread of its own: it enters asgiref's ThreadSensitiveContext, which starts a
one-thread executor on first use and joins it when the request ends. Starting
and joining that thread (plus the helper thread asgiref uses for the join)
was the largest part of a trivial request's cost under daphne: /healthz went
from 3.0 to 2.3 ms of CPU per request with the threads kept (bench/README.md).

Here each request borrows a one-thread executor from a free list and gives
it back at the end. A request still has one thread to itself for its whole
life, as Django expects (connections and transactions are per thread); only
the thread outlives it. Requests that run at the same time use different
executors, so there is no queueing: the list grows to the peak concurrency
and keeps at most IDLE_EXECUTORS_KEPT threads between peaks.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import Resolver404, get_resolver, set_script_prefix

# Enough for a busy process's concurrent requests; more are made when needed
# and shut down when they would sit idle beyond this.
IDLE_EXECUTORS_KEPT = 64


class ExecutorPool:
    def __init__(self, keep: int = IDLE_EXECUTORS_KEPT) -> None:
        self._keep = keep
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def acquire(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(executor)
                return
        # Not from the event loop's thread: the worker may still be finishing.
        executor.shutdown(wait=False)

    @property
    def idle(self) -> int:
        return len(self._idle)


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.executors = ExecutorPool()
        # The same MIDDLEWARE, built in sync mode (as a WSGI handler builds it): the chain
        # a sync view's request runs through, in one call on its thread.
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.executors.acquire()
        try:
            # The caller owns this executor: asgiref neither makes nor joins a thread.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.executors.release(executor)

    async def handle(self, scope, receive, send):
        if view_is_async(scope):
            await super().handle(scope, receive, send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            # The one hop: thread-sensitive, so on this request's executor.
            response = await sync_to_async(self.respond_in_thread)(scope, body_file)
            await self.send_response(response, send)
            if response.streaming:
                # Iterated while sending, so closed only now (one more hop, for streams only).
                await sync_to_async(response.close)()
        finally:
            body_file.close()

    def respond_in_thread(self, scope, body_file) -> HttpResponseBase:
        """Everything of a sync request between reading its body and sending its answer.

        What ASGIHandler.handle does across many hops, in the order WSGIHandler does it.
        A response that is not streamed is whole in memory, so it is closed here,
        before sending: request_finished (which closes or returns the database
        connection) then runs on the thread that used the connection.
        """
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            response = error_response
        else:
            response = self.sync_handler.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response


def view_is_async(scope) -> bool:
    """Whether the view the path resolves to is a coroutine function (an unknown path is not).

    ROOT_URLCONF only: no middleware here sets request.urlconf.
    """
    path = scope["path"]
    root_path = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


def get_asgi_application() -> PooledThreadASGIHandler:
    """Like django.core.asgi.get_asgi_application, with the pooled request threads."""
    import django

    django.setup(set_prefix=False)
    return PooledThreadASGIHandler()
