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

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

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


def get_asgi_application() -> PooledThreadASGIHandler:
    """Like django.core.asgi.get_asgi_application, with the pooled request threads."""
    import django

    django.setup(set_prefix=False)
    return PooledThreadASGIHandler()
