"""The API's error shape mapped to the exception family (pure mapping: httpx.MockTransport)."""

from __future__ import annotations

import httpx
import pytest
from escalation_console import (
    AlreadyResolved,
    AuthenticationError,
    Client,
    ConnectionFailed,
    ConversationPaused,
    EscalationConsoleError,
    NotFound,
    PermissionDenied,
    ServerError,
    ValidationError,
)


def client_answering(status: int, body: object = None, **kwargs) -> Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, text="<html>Bad gateway</html>")
        return httpx.Response(status, json=body)

    return Client("http://api.test", "ak_test", transport=httpx.MockTransport(answer), **kwargs)


def error(code: str, message: str = "Refused.", **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "not_authenticated", AuthenticationError),
        (401, "authentication_failed", AuthenticationError),
        (403, "forbidden", PermissionDenied),
        (404, "not_found", NotFound),
        (409, "conversation_paused", ConversationPaused),
        (409, "already_resolved", AlreadyResolved),
        (409, "already_dismissed", AlreadyResolved),
        (503, "redis_unavailable", ServerError),
        (418, "teapot", EscalationConsoleError),
    ],
)
def test_each_error_code_raises_its_exception(status, code, expected):
    with client_answering(status, error(code, "Refused here.")) as client, pytest.raises(expected) as raised:
        client.withdraw(1)

    assert (raised.value.status, raised.value.code, raised.value.message) == (status, code, "Refused here.")


def test_a_validation_error_carries_its_fields():
    body = error("invalid", "Some fields are not valid.", fields={"severity": ['"x" is not a valid choice.']})
    with client_answering(400, body) as client, pytest.raises(ValidationError) as raised:
        client.escalate("r", "x", conversation="c")

    assert raised.value.fields == {"severity": ['"x" is not a valid choice.']}


def test_a_body_that_is_not_json_still_raises_by_status():
    with client_answering(502, None, retries=0) as client, pytest.raises(ServerError) as raised:
        client.get_escalation(1)

    assert (raised.value.status, raised.value.code) == (502, "server_error")


def test_a_message_post_is_not_resent_after_a_read_error():
    sent: list[httpx.Request] = []

    def cut_off(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ReadError("connection reset", request=request)

    transport = httpx.MockTransport(cut_off)
    with Client("http://api.test", "ak_test", transport=transport) as client, pytest.raises(ConnectionFailed):
        client.post_message(1, "user", "hello")

    assert len(sent) == 1  # it may have been recorded: sending it again could record it twice


def test_an_escalation_is_resent_with_the_same_idempotency_key_after_a_read_error():
    keys: list[str] = []

    def cut_off_once(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(201, json={"id": 3, "status": "open", "resolution": None})

    transport = httpx.MockTransport(cut_off_once)
    with Client("http://api.test", "ak_test", transport=transport) as client:
        escalation = client.escalate("r", "info", conversation="c")

    assert escalation.id == 3
    assert len(keys) == 2 and keys[0] == keys[1]
