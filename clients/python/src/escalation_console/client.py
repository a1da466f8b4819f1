"""Client and AsyncClient: one agent's side of the Escalation Console API.

Each API call is described once (_ApiCalls: method, path, body, how to read the
answer); the two clients differ only in how they send it (httpx.Client or
httpx.AsyncClient, time.sleep or asyncio.sleep). So with an AsyncClient the
same methods return coroutines: `await client.escalate(...)`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from escalation_console import errors
from escalation_console.models import (
    Conversation,
    Escalation,
    Event,
    PostedMessage,
    Resolution,
    posted_from_api,
)

__version__ = "0.1.0"

# Seconds one long-poll request waits on the server. The API allows more, but most proxies and
# load balancers cut an idle request at 60 s, so a slice stays below that.
LONG_POLL_SECONDS = 50
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    parse: Callable[[httpx.Response], Any]
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None

    @property
    def safe_to_resend(self) -> bool:
        # A POST that may have reached the server is sent again only with an Idempotency-Key:
        # without one, a retry could record a message twice.
        return self.method == "GET" or IDEMPOTENCY_HEADER in self.headers


@dataclass(frozen=True)
class _Guard:
    """require_human's options."""

    severity: str
    reason: str | Callable[..., str]
    conversation: str | None
    urgency: str | None
    topic: str
    area: str
    timeout: float | None

    def escalation(self, function: Callable, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        """escalate()'s arguments for one call of `function`: the reason names the call (≤ 500 chars)."""
        text = self.reason(*args, **kwargs) if callable(self.reason) else self.reason
        shown = [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
        return {
            "reason": f"{text} — {function.__name__}({', '.join(shown)})"[:500],
            "severity": self.severity,
            "conversation": self.conversation,
            "urgency": self.urgency,
            "topic": self.topic,
            "area": self.area,
        }


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class _ApiCalls:
    """What both clients share: the calls, the retry rules, the answers' parsing."""

    def __init__(
        self,
        base_url: str,
        agent_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        max_retry_wait: float = 60.0,
        long_poll_seconds: int = LONG_POLL_SECONDS,
    ):
        if not 0 < long_poll_seconds <= 60:
            raise ValueError("long_poll_seconds must be within 1..60 (proxies cut idle requests at 60 s)")
        self.api = base_url.rstrip("/") + "/api/v1"
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.long_poll_seconds = long_poll_seconds
        self._headers = {
            "Authorization": f"Bearer {agent_key}",
            "User-Agent": f"escalation-console-client/{__version__}",
        }

    # -- the calls -------------------------------------------------------------------------

    def conversation(
        self,
        external_id: str,
        *,
        channel: str = "api",
        subject: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> Conversation:
        """Your conversation of `external_id`: made on the first call (created=True), the same one after."""
        body = {
            "external_id": external_id,
            "channel": channel,
            "subject": subject,
            "metadata": metadata or {},
        }
        return self._do(
            _Call(
                "POST",
                "/conversations/",
                json=body,
                parse=lambda r: Conversation.from_api(r.json(), self, created=r.status_code == 201),
            )
        )

    def get_conversation(self, conversation_id: int) -> Conversation:
        return self._do(
            _Call(
                "GET",
                f"/conversations/{conversation_id}/",
                parse=lambda r: Conversation.from_api(r.json(), self),
            )
        )

    def post_message(
        self, conversation_id: int, role: str, content: str, *, metadata: dict[str, Any] | None = None
    ) -> PostedMessage:
        """Record a message (role: user, agent, tool or system); the agent's rules run on it.

        An agent message while a blocking escalation waits raises ConversationPaused. Never resent
        on a lost connection (it could be recorded twice): ConnectionFailed then.
        """
        body = {"role": role, "content": content, "metadata": metadata or {}}
        return self._do(
            _Call(
                "POST",
                f"/conversations/{conversation_id}/messages/",
                json=body,
                parse=lambda r: posted_from_api(r.json(), self),
            )
        )

    def escalate(
        self,
        reason: str,
        severity: str,
        *,
        conversation: str | None = None,
        conversation_id: int | None = None,
        channel: str | None = None,
        urgency: str | None = None,
        topic: str = "",
        area: str = "",
        blocking: bool = True,
        timeout_policy: str | None = None,
        context: str = "",
        idempotency_key: str | None = None,
    ) -> Escalation:
        """escalate_to_human: hand the conversation to a person (severity: info, warning or critical).

        Name the conversation by your id (`conversation`, made if missing) or ours
        (`conversation_id`); with neither, a new conversation is made for this call. `context`:
        the facts the person needs (amounts, ids, what the customer said), shown on the card. The
        Idempotency-Key (a new one unless given) makes the call safe to retry: the same key
        gets the first answer back, never a second escalation.
        """
        if conversation is not None and conversation_id is not None:
            raise ValueError("give conversation (your id) or conversation_id (ours), not both")
        body: dict[str, Any] = {"reason": reason, "severity": severity, "blocking": blocking}
        optional = {"urgency": urgency, "timeout_policy": timeout_policy, "channel": channel}
        body.update({key: value for key, value in optional.items() if value is not None})
        if topic:
            body["topic"] = topic
        if area:
            body["area"] = area
        if context:
            body["context"] = context
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        else:
            body["conversation"] = conversation if conversation is not None else f"client-{uuid.uuid4().hex}"
        return self._do(
            _Call(
                "POST",
                "/escalations/",
                json=body,
                headers={IDEMPOTENCY_HEADER: idempotency_key or uuid.uuid4().hex},
                parse=lambda r: Escalation.from_api(r.json(), self, added=r.status_code == 200),
            )
        )

    def get_escalation(self, escalation_id: int, *, wait: int = 0) -> Escalation:
        """The escalation now, or with `wait` (seconds, ≤ 60) once final or when the wait is up."""
        return self._do(self._poll_call(escalation_id, wait))

    def withdraw(self, escalation_id: int, *, reason: str = "") -> Escalation:
        """No longer needed: the escalation becomes final (withdrawn). AlreadyResolved if it was final."""
        return self._do(
            _Call(
                "POST",
                f"/escalations/{escalation_id}/withdraw/",
                json={"reason": reason},
                parse=lambda r: Escalation.from_api(r.json(), self),
            )
        )

    def events_page(self, *, after: int = 0, limit: int = 100) -> tuple[list[Event], int, bool]:
        """One page of the event feed: (events, next_after, has_more)."""
        return self._do(_Call("GET", "/events/", params={"after": after, "limit": limit}, parse=_event_page))

    # -- shared pieces ---------------------------------------------------------------------

    def _poll_call(self, escalation_id: int, wait: int) -> _Call:
        return _Call(
            "GET",
            f"/escalations/{escalation_id}/",
            params={"wait": wait},
            # The server holds the request up to `wait` seconds: the read timeout must outlast it.
            timeout=wait + self.timeout,
            parse=lambda r: Escalation.from_api(r.json(), self),
        )

    def _next_slice(self, escalation_id: int, deadline: float | None) -> int:
        """Seconds of the next long-poll; WaitTimedOut when the caller's time is up."""
        if deadline is None:
            return self.long_poll_seconds
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise errors.WaitTimedOut(
                f"Escalation #{escalation_id} is still waiting for a person.", escalation_id=escalation_id
            )
        return min(self.long_poll_seconds, int(remaining))

    def _retry_delay(
        self, call: _Call, attempt: int, response: httpx.Response | None, error: Exception | None
    ) -> float | None:
        """Seconds to wait before sending `call` again, or None: do not resend."""
        if attempt >= self.retries:
            return None
        if error is not None:
            # ConnectError: the request never left, so even a plain POST is safe to resend.
            if call.safe_to_resend or isinstance(error, httpx.ConnectError):
                return min(0.5 * 2**attempt, 8.0)
            return None
        assert response is not None
        if response.status_code == 429:  # refused before anything was done: always safe
            wait = errors.retry_after_seconds(response.headers.get("Retry-After"))
            wait = 1.0 if wait is None else wait
            return wait if wait <= self.max_retry_wait else None
        if response.status_code == 409 and (_json(response) or {}).get("error", {}).get("code") == (
            "idempotency_key_in_flight"
        ):
            return min(0.2 * 2**attempt, 2.0)
        return None

    def _request_kwargs(self, call: _Call) -> dict[str, Any]:
        return {
            "json": call.json,
            "params": call.params,
            "headers": call.headers,
            "timeout": call.timeout if call.timeout is not None else self.timeout,
        }

    @staticmethod
    def _result(call: _Call, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise errors.error_from_response(response.status_code, _json(response), response.headers)
        return call.parse(response)

    def _do(self, call: _Call) -> Any:
        raise NotImplementedError

    def require_human(
        self,
        *,
        severity: str = "critical",
        reason: str | Callable[..., str],
        conversation: str | None = None,
        urgency: str | None = None,
        topic: str = "",
        area: str = "",
        timeout: float | None = None,
    ) -> Callable[[Callable], Callable]:
        """Decorator: each call escalates (with the call's arguments in the reason), waits, and runs
        the function only when a person responds, passing `guidance=` if it takes it; raises
        Dismissed otherwise. `reason` may be a function of the call's arguments. Client guards
        plain functions, AsyncClient `async def` ones."""
        guard = _Guard(severity, reason, conversation, urgency, topic, area, timeout)

        def decorate(function: Callable) -> Callable:
            return functools.wraps(function)(self._guarded(function, guard))

        return decorate

    def _guarded(self, function: Callable, guard: _Guard) -> Callable:
        raise NotImplementedError


def _event_page(response: httpx.Response) -> tuple[list[Event], int, bool]:
    body = response.json()
    return [Event.from_api(item) for item in body["results"]], body["next_after"], body["has_more"]


def _run_guarded(function: Callable, resolution: Resolution, args: tuple, kwargs: dict[str, Any]) -> Any:
    """require_human's second half: `function` runs only on a person's answer, with the guidance."""
    if resolution.outcome != "resumed":
        raise errors.Dismissed(
            f"A person {resolution.outcome} the escalation: {function.__name__} did not run."
            + (f" ({resolution.note})" if resolution.note else ""),
            resolution=resolution,
        )
    if "guidance" in inspect.signature(function).parameters:
        kwargs = {**kwargs, "guidance": resolution.guidance}
    return function(*args, **kwargs)


class Client(_ApiCalls):
    """Synchronous client. Use as a context manager (or call close()) to release its connections.

    >>> with Client("http://127.0.0.1:8000", "ak_…") as client:
    ...     escalation = client.escalate("Refund over the limit", "critical", conversation="chat-42")
    ...     resolution = escalation.wait()
    """

    def __init__(
        self, base_url: str, agent_key: str, *, transport: httpx.BaseTransport | None = None, **options
    ):
        super().__init__(base_url, agent_key, **options)
        self._http = httpx.Client(headers=self._headers, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _do(self, call: _Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(call.method, self.api + call.path, **self._request_kwargs(call))
            except httpx.TransportError as error:
                delay = self._retry_delay(call, attempt, None, error)
                if delay is None:
                    raise errors.ConnectionFailed(f"{call.method} {call.path}: {error!r}") from error
            else:
                delay = self._retry_delay(call, attempt, response, None)
                if delay is None:
                    return self._result(call, response)
            time.sleep(delay)
            attempt += 1

    def wait_for_resolution(self, escalation_id: int, *, timeout: float | None = None) -> Resolution:
        """Block until the escalation is final; long-polls in slices of ≤ 60 s.

        With `timeout` (seconds), raises WaitTimedOut when it passes first (the escalation stays open).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            escalation = self._do(self._poll_call(escalation_id, self._next_slice(escalation_id, deadline)))
            if escalation.resolution is not None:
                return escalation.resolution

    def events(
        self, *, after: int = 0, limit: int = 100, follow: bool = False, poll_interval: float = 2.0
    ) -> Iterator[Event]:
        """The event feed from `after` on, in id order. follow=True: keep polling for new events."""
        while True:
            page, after, has_more = self.events_page(after=after, limit=limit)
            yield from page
            if not has_more:
                if not follow:
                    return
                time.sleep(poll_interval)

    def _guarded(self, function: Callable, guard: _Guard) -> Callable:
        if inspect.iscoroutinefunction(function):
            raise TypeError("an async function needs AsyncClient.require_human")

        def guarded(*args: Any, **kwargs: Any) -> Any:
            escalation = self.escalate(**guard.escalation(function, args, kwargs))
            resolution = self.wait_for_resolution(escalation.id, timeout=guard.timeout)
            return _run_guarded(function, resolution, args, kwargs)

        return guarded


class AsyncClient(_ApiCalls):
    """The same calls as Client, awaited.

    `async with AsyncClient(url, key) as client: await client.escalate(...)`
    """

    def __init__(
        self, base_url: str, agent_key: str, *, transport: httpx.AsyncBaseTransport | None = None, **options
    ):
        super().__init__(base_url, agent_key, **options)
        self._http = httpx.AsyncClient(headers=self._headers, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _do(self, call: _Call) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, self.api + call.path, **self._request_kwargs(call)
                )
            except httpx.TransportError as error:
                delay = self._retry_delay(call, attempt, None, error)
                if delay is None:
                    raise errors.ConnectionFailed(f"{call.method} {call.path}: {error!r}") from error
            else:
                delay = self._retry_delay(call, attempt, response, None)
                if delay is None:
                    return self._result(call, response)
            await asyncio.sleep(delay)
            attempt += 1

    async def wait_for_resolution(self, escalation_id: int, *, timeout: float | None = None) -> Resolution:
        """As Client.wait_for_resolution, without holding a thread while the person decides."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            escalation = await self._do(
                self._poll_call(escalation_id, self._next_slice(escalation_id, deadline))
            )
            if escalation.resolution is not None:
                return escalation.resolution

    async def events(
        self, *, after: int = 0, limit: int = 100, follow: bool = False, poll_interval: float = 2.0
    ) -> AsyncIterator[Event]:
        while True:
            page, after, has_more = await self.events_page(after=after, limit=limit)
            for event in page:
                yield event
            if not has_more:
                if not follow:
                    return
                await asyncio.sleep(poll_interval)

    def _guarded(self, function: Callable, guard: _Guard) -> Callable:
        if not inspect.iscoroutinefunction(function):
            raise TypeError("AsyncClient.require_human guards async functions; use Client for sync ones")

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            escalation = await self.escalate(**guard.escalation(function, args, kwargs))
            resolution = await self.wait_for_resolution(escalation.id, timeout=guard.timeout)
            return await _run_guarded(function, resolution, args, kwargs)

        return guarded
