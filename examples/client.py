"""The agent's side of the Escalation Console API, with nothing but `requests`.

Both agent examples use it; copy it into your own agent as it is. It covers
what an agent does: record a conversation's messages (the console's rules
run on each one), call escalate_to_human itself, and wait for the human's
answer with the long-poll. Rate limits (429 + Retry-After) and a server that
is briefly unreachable are retried; every other refusal raises ApiError with
the API's error code, e.g. "conversation_paused".
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import requests

# Statuses of an escalation that will not change again.
FINAL_STATUSES = frozenset({"resolved", "dismissed", "withdrawn"})
# Seconds one long-poll waits on the server (it allows up to 60); below the idle timeout of
# most proxies and load balancers, so the request is not cut on the way.
LONG_POLL_SECONDS = 30
RETRIES = 5


class ApiError(Exception):
    """The API refused a request: `status` is the HTTP status, `code` the API's error code."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


class AgentClient:
    """Calls the API with one agent's key (`Authorization: Bearer ak_…`)."""

    def __init__(self, base_url: str, agent_key: str, *, timeout: float = 10.0):
        self.api = base_url.rstrip("/") + "/api/v1"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {agent_key}"

    @classmethod
    def from_env(cls) -> AgentClient:
        """ESCALATION_API_URL (default http://127.0.0.1:8000, `make run`) and ESCALATION_AGENT_KEY."""
        return cls(
            os.environ.get("ESCALATION_API_URL", "http://127.0.0.1:8000"), os.environ["ESCALATION_AGENT_KEY"]
        )

    def open_conversation(self, external_id: str, *, channel: str = "chat", subject: str = "") -> dict:
        """Our conversation of your id: made on the first call, the same one after."""
        body = {"external_id": external_id, "channel": channel, "subject": subject}
        return self._call("POST", "/conversations/", json=body)

    def post_message(self, conversation_id: int, role: str, content: str) -> dict:
        """Record a message; returns {message, escalation, hits}. `escalation` is what a rule opened
        (or added this message to), else None. An agent message while a blocking escalation waits
        raises ApiError with code "conversation_paused": wait for the answer first."""
        return self._call(
            "POST", f"/conversations/{conversation_id}/messages/", json={"role": role, "content": content}
        )

    def escalate_to_human(
        self,
        *,
        reason: str,
        severity: str = "warning",
        conversation: str | None = None,
        conversation_id: int | None = None,
        blocking: bool = True,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> dict:
        """Hand the conversation to a human; returns the escalation (a new one, or the open one this
        call was added to). Name the conversation by your id (`conversation`) or ours
        (`conversation_id`). The same `idempotency_key` always means the same call: a retry, or a
        re-run of the code that made it, gets the first answer back instead of a second escalation."""
        body = {"reason": reason, "severity": severity, "blocking": blocking, **extra}
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        else:
            body["conversation"] = conversation
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/escalations/", json=body, headers=headers)

    def wait_for_answer(self, escalation_id: int, *, give_up_after: float | None = None) -> dict:
        """Block until the escalation is final; returns it, with `resolution`: {outcome (resumed,
        dismissed or withdrawn), guidance, note, responder, at, automatic}. Each request waits on
        the server until the answer comes or LONG_POLL_SECONDS pass, then asks again.
        With give_up_after (seconds), returns the escalation as it is then, still open."""
        deadline = None if give_up_after is None else time.monotonic() + give_up_after
        while True:
            wait = LONG_POLL_SECONDS
            if deadline is not None:
                wait = max(0, min(wait, int(deadline - time.monotonic())))
            escalation = self._call(
                "GET", f"/escalations/{escalation_id}/", params={"wait": wait}, timeout=wait + self.timeout
            )
            if escalation["status"] in FINAL_STATUSES or (deadline and time.monotonic() >= deadline):
                return escalation

    def _call(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> dict:
        # A POST that may have reached the server is sent again only with an Idempotency-Key:
        # without one, a retry could record a message twice.
        safe_to_resend = method == "GET" or "Idempotency-Key" in kwargs.get("headers", {})
        for attempt in range(RETRIES + 1):
            try:
                response = self.session.request(
                    method, self.api + path, timeout=timeout or self.timeout, **kwargs
                )
            except requests.ConnectionError:
                if attempt == RETRIES or not safe_to_resend:
                    raise
                time.sleep(2**attempt)  # the server restarts or is briefly unreachable
                continue
            if response.status_code == 429 and attempt < RETRIES:  # refused before anything was done
                time.sleep(float(response.headers.get("Retry-After", 1)))
                continue
            if response.status_code >= 400:
                error = response.json().get("error", {}) if _is_json(response) else {}
                raise ApiError(
                    response.status_code,
                    error.get("code", "error"),
                    error.get("message", response.text[:200]),
                    error.get("fields"),
                )
            return response.json()
        raise AssertionError("unreachable")


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("application/json")
