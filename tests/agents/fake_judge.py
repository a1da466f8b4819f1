"""A fake OpenAI-compatible judge: a real HTTP server on 127.0.0.1 that answers as told.

It speaks just enough of POST /v1/chat/completions for agents.policy_judge: each
request is recorded (path, headers, JSON body) and answered with `answer`, a
(status, body bytes) pair; with `hold` set, a request waits until `release()`
(or the server stops) before it is answered: a slow or silent judge, without a
sleep standing in for it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# A request held longer than this is answered anyway, so a broken test cannot hang the run.
HOLD_AT_MOST_SECONDS = 30
KEY = "sk-test-policy-judge-KEY-4242"


def chat_body(content: str) -> bytes:
    """A chat-completions response whose message content is `content`."""
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        }
    ).encode()


def verdict_body(*, escalate: bool, severity: str = "warning", reason: str = "", evidence: Any = ()) -> bytes:
    verdict = {"escalate": escalate, "severity": severity, "reason": reason, "evidence": list(evidence)}
    return chat_body(json.dumps(verdict))


class FakeJudge:
    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (200, verdict_body(escalate=False, reason="Nothing to see."))
        self.requests: list[dict[str, Any]] = []
        self.hold = False
        self.arrived = threading.Event()  # set when a request comes in
        self._counted = threading.Condition()
        self._released = threading.Event()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with judge._counted:
                    judge.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw or b"null")}
                    )
                    judge._counted.notify_all()
                judge.arrived.set()
                if judge.hold:
                    judge._released.wait(HOLD_AT_MOST_SECONDS)
                status, body = judge.answer
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up on a held request: nobody to answer

            def log_message(self, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll: shutdown() waits for the loop to notice, up to one interval.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeJudge:
        self._thread.start()
        return self

    def wait_for_requests(self, count: int, timeout: float = 10) -> bool:
        """Whether `count` requests have come in within timeout (a request the client sent
        may reach the server's thread after the client has given up on it)."""
        with self._counted:
            return self._counted.wait_for(lambda: len(self.requests) >= count, timeout)

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def judge(settings):
    """A fake judge, and the settings that point policy rules at it (with KEY as the key)."""
    fake = FakeJudge().start()
    settings.POLICY_JUDGE_BASE_URL = fake.base_url
    settings.POLICY_JUDGE_MODEL = "test-model"
    settings.POLICY_JUDGE_API_KEY = KEY
    # Short, so a test of the budget is quick; a local answer takes milliseconds.
    settings.POLICY_JUDGE_TIMEOUT_SECONDS = 0.5
    settings.POLICY_JUDGE_MAX_CONCURRENCY = 4
    yield fake
    fake.stop()
