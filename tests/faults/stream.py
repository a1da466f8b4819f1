"""A client sending escalation creates (and, with a session, console reads) in turn until
stopped, in a thread of its own, recording every answer: what the fault tests break things under."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from django.conf import settings

from tests.waiting import wait_until

WAIT_SECONDS = 120  # generous: other test runs share the machine


@dataclass
class Answer:
    kind: str  # "create" or "console"
    sent: float
    took: float
    status: int | None  # None: no answer at all (connection refused or reset, timeout)
    retry_after: str | None = None
    code: str | None = None  # the API error's code
    escalation_id: int | None = None


class Stream:
    def __init__(
        self, base: str, agent_headers: dict[str, str], session: str | None = None, *, patience: float = 60
    ) -> None:
        self.base = base
        # Each request's read timeout: an answer slower than this is recorded as none (status None),
        # which the tests' status checks refuse. How long answers took is a figure, not a check.
        self.patience = patience
        self.agent = agent_headers
        self.cookies = {settings.SESSION_COOKIE_NAME: session} if session else None
        self.answers: list[Answer] = []
        self.running = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def __enter__(self) -> Stream:
        self.running.set()
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self.running.clear()
        self.thread.join(timeout=60)

    def _run(self) -> None:
        http = requests.Session()
        number = 0
        while self.running.is_set():
            number += 1
            self._send(http, "create", "post", f"{self.base}/api/v1/escalations/", headers=self.agent,
                       json={"conversation": f"stream-{number}", "reason": "Refund of $500",
                             "severity": "critical"})  # fmt: skip
            if self.cookies:
                self._send(http, "console", "get", f"{self.base}/console/", cookies=self.cookies,
                           allow_redirects=False)  # fmt: skip

    def _send(self, http: requests.Session, kind: str, method: str, url: str, **kwargs) -> None:
        sent = time.monotonic()
        try:
            response = getattr(http, method)(url, timeout=self.patience, **kwargs)
        except requests.RequestException:
            self.answers.append(Answer(kind, sent, time.monotonic() - sent, None))
            return
        answer = Answer(kind, sent, time.monotonic() - sent, response.status_code)
        answer.retry_after = response.headers.get("Retry-After")
        if kind == "create":
            body = response.json()
            answer.code = body.get("error", {}).get("code")
            answer.escalation_id = body.get("id") if response.status_code == 201 else None
        self.answers.append(answer)

    def created(self) -> list[int]:
        return sorted(a.escalation_id for a in self.answers if a.escalation_id is not None)

    def wait_for(self, what: str, condition: Callable[[list[Answer]], bool]) -> None:
        wait_until(
            lambda: condition(list(self.answers)),
            timeout=WAIT_SECONDS,
            message=lambda: f"{what}; answers {self.answers[-10:]}",
        )


def created_after(moment: float, count: int) -> Callable[[list[Answer]], bool]:
    """A wait_for condition: `count` creates sent after `moment` were answered 201."""
    return lambda answers: sum(1 for a in answers if a.sent > moment and a.status == 201) >= count
