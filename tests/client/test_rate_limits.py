"""429 + Retry-After against a real local HTTP server (pytest-httpserver): honoured, then given up."""

from __future__ import annotations

import json
import time

import pytest
from escalation_console import Client, RateLimited
from werkzeug import Request, Response

ESCALATION = {"id": 7, "status": "open", "blocking": True, "resolution": None}


def limited_then(body: dict, *, refusals: int, retry_after: str):
    """A handler that answers 429 `refusals` times, then 200 with `body`; records when each came."""
    arrivals: list[float] = []

    def handle(request: Request) -> Response:
        arrivals.append(time.monotonic())
        if len(arrivals) <= refusals:
            error = {"error": {"code": "throttled", "message": "Request was throttled."}}
            return Response(
                json.dumps(error),
                status=429,
                headers={"Retry-After": retry_after},
                content_type="application/json",
            )
        return Response(json.dumps(body), status=200, content_type="application/json")

    return handle, arrivals


def test_a_429_is_retried_after_retry_after(httpserver):
    handle, arrivals = limited_then(ESCALATION, refusals=1, retry_after="1")
    httpserver.expect_request("/api/v1/escalations/7/").respond_with_handler(handle)

    with Client(httpserver.url_for("/"), "ak_test") as client:
        escalation = client.get_escalation(7)

    assert escalation.id == 7
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 1.0  # it waited as long as the server asked


def test_rate_limited_carries_retry_after_when_the_retries_run_out(httpserver):
    handle, arrivals = limited_then(ESCALATION, refusals=10, retry_after="0")
    httpserver.expect_request("/api/v1/escalations/7/").respond_with_handler(handle)

    with (
        Client(httpserver.url_for("/"), "ak_test", retries=2) as client,
        pytest.raises(RateLimited) as raised,
    ):
        client.get_escalation(7)

    assert (raised.value.status, raised.value.retry_after, len(arrivals)) == (429, 0.0, 3)


def test_a_retry_after_beyond_max_retry_wait_is_raised_at_once(httpserver):
    handle, arrivals = limited_then(ESCALATION, refusals=10, retry_after="3600")
    httpserver.expect_request("/api/v1/escalations/7/").respond_with_handler(handle)

    with Client(httpserver.url_for("/"), "ak_test") as client, pytest.raises(RateLimited) as raised:
        client.get_escalation(7)

    assert (raised.value.retry_after, len(arrivals)) == (3600.0, 1)
