"""The ASGI handler keeps request threads (one per request in flight, reused afterwards)
and serves a sync request in one hop to its thread."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.testing import HttpCommunicator
from django.core.signals import request_finished
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from escalation_project.asgi_handler import ExecutorPool, PooledThreadASGIHandler

seen: list[threading.Thread] = []  # the objects, kept alive: no id can be recycled
both_in_flight = threading.Barrier(2, timeout=5)


def where_am_i(request):
    seen.append(threading.current_thread())
    return HttpResponse(threading.current_thread().name)


def meet_the_other_request(request):
    # Returns only when another request is in this view at the same time.
    both_in_flight.wait()
    seen.append(threading.current_thread())
    return HttpResponse(threading.current_thread().name)


urlpatterns = [path("where/", where_am_i), path("meet/", meet_the_other_request)]


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = []
    seen.clear()
    both_in_flight.reset()
    return PooledThreadASGIHandler()


async def _get(handler, path: str) -> str:
    response = await HttpCommunicator(handler, "GET", path).get_response(timeout=10)
    assert response["status"] == 200
    return response["body"].decode()


def test_requests_one_after_another_reuse_one_thread(handler):
    async def three():
        return [await _get(handler, "/where/") for _ in range(3)]

    names = asyncio.run(three())
    assert len(seen) == 3
    assert seen[0] is seen[1] is seen[2]
    assert names[0].startswith("request")
    assert handler.executors.idle == 1


def test_requests_at_the_same_time_get_threads_of_their_own(handler):
    # With one shared thread the first request would wait for the second forever.
    async def two_at_once():
        return await asyncio.gather(_get(handler, "/meet/"), _get(handler, "/meet/"))

    asyncio.run(two_at_once())
    assert len(seen) == 2
    assert seen[0] is not seen[1]
    assert handler.executors.idle == 2


def test_the_pool_keeps_only_so_many_idle_threads():
    pool = ExecutorPool(keep=1)
    first, second = pool.acquire(), pool.acquire()
    assert first is not second
    pool.release(first)
    pool.release(second)  # one too many: shut down, not kept
    assert pool.idle == 1
    assert pool.acquire() is first
    with pytest.raises(RuntimeError):
        second.submit(print)


class CountingExecutor(ThreadPoolExecutor):
    """One request thread that counts the calls handed to it: each is a hop from the event loop."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def note_thread(get_response):
    # A sync-only middleware: Django's async chain would adapt each of its halves into a hop.
    def middleware(request):
        seen.append(threading.current_thread())
        response = get_response(request)
        seen.append(threading.current_thread())
        return response

    return middleware


ran_async: list[threading.Thread] = []


async def on_the_loop(request):
    ran_async.append(threading.current_thread())
    return HttpResponse("async")


def streamed(request):
    return StreamingHttpResponse(iter([b"one ", b"two"]))


urlpatterns += [path("async/", on_the_loop), path("streamed/", streamed)]


@pytest.fixture
def counted(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [f"{__name__}.note_thread", "escalation_project.request_id.RequestIdMiddleware"]
    seen.clear()
    ran_async.clear()
    handler = PooledThreadASGIHandler()
    executor = CountingExecutor()
    handler.executors = ExecutorPool(keep=1)
    handler.executors.release(executor)
    finished: list[threading.Thread] = []

    def on_finished(**kwargs):
        finished.append(threading.current_thread())

    request_finished.connect(on_finished)
    yield handler, executor, finished
    request_finished.disconnect(on_finished)
    executor.shutdown()


def test_a_sync_request_makes_one_hop_for_middleware_view_and_signals(counted):
    handler, executor, finished = counted
    response = asyncio.run(HttpCommunicator(handler, "GET", "/where/").get_response(timeout=10))
    assert response["status"] == 200
    assert dict(response["headers"]).get(b"X-Request-ID")  # the async-capable middleware ran too
    assert executor.calls == 1
    # Middleware before and after, the view, and request_finished (connections closed): one thread.
    assert len(seen) == 3
    assert seen[0] is seen[1] is seen[2] is finished[0]
    assert seen[0].name.startswith("request")


def test_an_async_view_runs_on_the_event_loop(counted):
    handler, _, _ = counted
    loop_thread = []

    async def get():
        loop_thread.append(threading.current_thread())
        return await HttpCommunicator(handler, "GET", "/async/").get_response(timeout=10)

    response = asyncio.run(get())
    assert response["body"] == b"async"
    assert ran_async == loop_thread  # the view was not moved to a request thread


def test_a_streamed_response_is_sent_whole_and_closed_on_the_request_thread(counted):
    handler, executor, finished = counted
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/streamed/", "headers": [], "query_string": b""}
    # HttpCommunicator cannot read a stream's closing message (a body-less http.response.body).
    asyncio.run(handler(scope, receive, send))
    assert sent[0]["status"] == 200
    assert b"".join(message.get("body", b"") for message in sent[1:]) == b"one two"
    assert finished and finished[0] is seen[0]
