"""The ASGI handler keeps request threads: one thread per request in flight, reused afterwards."""

import asyncio
import threading

import pytest
from channels.testing import HttpCommunicator
from django.http import HttpResponse
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
