"""wait() long-polls in slices of at most 60 s (a local HTTP server standing in for a slow answer)."""

from __future__ import annotations

import json

import pytest
from escalation_console import Client, WaitTimedOut
from werkzeug import Request, Response

OPEN = {"id": 7, "status": "open", "resolution": None}
RESOLVED = {
    "id": 7,
    "status": "resolved",
    "resolution": {"outcome": "resumed", "guidance": "Yes.", "note": "", "responder": "ana", "at": None},
}


def answering(bodies: list[dict]):
    """Answers each GET with the next of `bodies` at once; records the `wait` each one asked for."""
    waits: list[int] = []

    def handle(request: Request) -> Response:
        waits.append(int(request.args["wait"]))
        return Response(json.dumps(bodies[min(len(waits), len(bodies)) - 1]), content_type="application/json")

    return handle, waits


def test_wait_asks_again_in_slices_of_at_most_60_seconds_until_final(httpserver):
    handle, waits = answering([OPEN, OPEN, RESOLVED])
    httpserver.expect_request("/api/v1/escalations/7/").respond_with_handler(handle)

    with Client(httpserver.url_for("/"), "ak_test") as client:
        resolution = client.wait_for_resolution(7, timeout=600)

    assert (resolution.outcome, resolution.guidance) == ("resumed", "Yes.")
    assert waits == [50, 50, 50]


def test_the_last_slice_is_what_is_left_of_the_timeout(httpserver):
    handle, waits = answering([OPEN])
    httpserver.expect_request("/api/v1/escalations/7/").respond_with_handler(handle)

    with Client(httpserver.url_for("/"), "ak_test") as client, pytest.raises(WaitTimedOut):
        client.wait_for_resolution(7, timeout=2.5)

    assert waits[0] == 2 and all(wait <= 2 for wait in waits)


def test_a_long_poll_slice_over_60_seconds_is_refused():
    with pytest.raises(ValueError):
        Client("http://127.0.0.1:1", "ak_test", long_poll_seconds=61)
