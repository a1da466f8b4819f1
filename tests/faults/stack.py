"""The pieces of a stack that a fault test starts, breaks and mends: its own redis-server, a real
Celery worker with its beat sweep, and a local webhook receiver that verifies signatures.

Shared by the fault suite (tests/faults/) and the webhook crash-safety tests. daphne comes from
tests/live_server.py (running_daphne).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import requests
from django.conf import settings
from standardwebhooks import Webhook
from werkzeug import Request, Response

from escalation_project import embedded_redis
from tests.live_server import database_url
from tests.waiting import wait_until
from webhooks.models import Delivery, DeliveryStatus

WAIT_SECONDS = 90  # generous: the machine may be busy with other test runs


class OwnRedis:
    """A redis-server on a fixed free port that the test can stop, freeze, and start or thaw again."""

    def __init__(self, workdir: Path) -> None:
        self.port = embedded_redis.free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = embedded_redis.start(self.port, self.workdir)

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()  # a stopped process would only act on SIGTERM once continued
            embedded_redis.stop(self.process)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel does), nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)


@contextlib.contextmanager
def celery_worker(
    var_dir: Path, redis_url: str, *, send_lease_seconds: float, **extra_env: str
) -> Iterator[subprocess.Popen]:
    """A prefork worker with its embedded beat (-B: the 5 s sweep), in its own process group."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE")},
        "DJANGO_SETTINGS_MODULE": "escalation_project.settings_test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
        **extra_env,
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    log_path = var_dir / "worker.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.webhooks.celery_worker", str(send_lease_seconds),
             "-B", "--pool=prefork", "--concurrency=1", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own group: kill -9 reaches the main process, its pool child and its beat at once.
            process_group=0,
        )  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_log(var_dir: Path) -> str:
    path = var_dir / "worker.log"
    return path.read_text() if path.exists() else "(no worker log)"


class Receiver:
    """Records each request; `effect` runs once per webhook-id, as a deduplicating integrator would."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.requests: list[dict] = []
        self.effects: list[str] = []
        self.lock = threading.Lock()

    def handle(self, request: Request, before_answering: Callable[[], None] = lambda: None) -> Response:
        # Raises (a 500, and the test fails) unless correctly signed.
        payload = self.webhook.verify(request.get_data(), dict(request.headers))
        webhook_id = request.headers["webhook-id"]
        with self.lock:
            self.requests.append({"webhook_id": webhook_id, "payload": payload})
            if webhook_id not in self.effects:
                self.effects.append(webhook_id)
        before_answering()
        return Response(status=204)

    def wait_for(self, count: int, what: str, log: Callable[[], str]) -> None:
        wait_until(
            lambda: len(self.requests) >= count,
            timeout=WAIT_SECONDS,
            message=lambda: f"{what}: {len(self.requests)} of {count} requests arrived.\n{log()}",
        )


def wait_until_recorded(endpoint, count: int, log: Callable[[], str]) -> None:
    """The receiver has answered; the worker records the attempts just after (a batch's together).
    Stopping it before then would cut that short, so wait for the rows."""
    succeeded = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.SUCCEEDED)
    wait_until(
        lambda: succeeded.count() >= count,
        timeout=WAIT_SECONDS,
        message=lambda: f"{succeeded.count()} of {count} attempts were recorded.\n{log()}",
    )


def escalate(base: str, headers: dict, conversation: str, *, timeout: float = 60) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/escalations/",
        json={"conversation": conversation, "reason": "Refund of $500", "severity": "critical"},
        headers=headers,
        timeout=timeout,
    )


# --- One outage, start to finish ----------------------------------------------------------------

# What the agent API may answer instead of its usual status while Redis is out
# (docs/operations/faults.md: none today).
API_OUTAGE_STATUSES = {503}


class Console:
    """A supervisor's browser, as far as HTTP goes: a session cookie and the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", timeout=60)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        token = self.http.cookies.get("csrftoken", "")
        return self.http.post(
            f"{self.base}{path}",
            data={**data, "csrfmiddlewaretoken": token},
            timeout=60,
            allow_redirects=False,
        )

    def log_in(self, username: str) -> requests.Response:
        assert self.get("/console/login/").status_code == 200  # sets the CSRF cookie
        return self.post("/console/login/", {"username": username, "password": "pw"})


class Timed(NamedTuple):
    response: requests.Response
    seconds: float


def timed(call: Callable[[], requests.Response]) -> Timed:
    started = time.monotonic()
    response = call()
    return Timed(response, time.monotonic() - started)


class OutageFigures(NamedTuple):
    create_seconds: list[float]  # each create while Redis was out, in order
    page_seconds: dict[str, float]  # the slowest answer of each console page while out
    delivered_after_seconds: float  # from Redis back to the last webhook recorded


def run_outage(
    *,
    base: str,
    scene,
    receiver: Receiver,
    break_redis: Callable[[], None],
    mend_redis: Callable[[], None],
    create_budget_seconds: float,
    log: Callable[[], str],
) -> OutageFigures:
    """Escalate, break Redis, escalate and answer in the console, mend Redis; check nothing was lost.

    No 5xx from the console's pages (login included) or the agent API (beyond a 503 with
    Retry-After), each create within its budget, and once Redis is back every committed
    event's webhook delivered and every open escalation on the queue.
    """
    before = escalate(base, scene.agent_headers, "before-the-outage")
    assert before.status_code == 201, before.text
    receiver.wait_for(1, "the first webhook (Redis up)", log)

    break_redis()
    # The budget is the agent's patience (its read timeout): a create that waited on the broken
    # Redis past it fails here with a ReadTimeout. The durations are figures, for bench/README.md.
    creates = [
        timed(lambda n=n: escalate(base, scene.agent_headers, f"during-{n}", timeout=create_budget_seconds))
        for n in range(3)
    ]
    assert [c.response.status_code for c in creates] == [201] * 3, [c.response.text for c in creates]
    claimed, dismissed, left_open = (c.response.json()["id"] for c in creates)

    console = Console(base)
    page_seconds: dict[str, float] = {}

    def read(path: str, name: str) -> requests.Response:
        answer = timed(lambda: console.get(path))
        assert answer.response.status_code < 500, f"{path}: {answer.response.status_code}"
        page_seconds[name] = max(page_seconds.get(name, 0.0), answer.seconds)
        return answer.response

    assert read("/admin/login/", "admin login").status_code == 200
    login = timed(lambda: console.log_in(scene.supervisor))
    assert login.response.status_code == 302, login.response.text
    page_seconds["log in"] = login.seconds
    queue = read("/console/", "queue")
    assert queue.status_code == 200
    assert "Live updates offline" in queue.text
    assert f"/console/escalations/{left_open}/" in queue.text  # created during the outage
    assert read(f"/console/escalations/{claimed}/", "escalation").status_code == 200
    assert read("/console/history/", "history").status_code == 200
    for path, data in [
        (f"/console/escalations/{claimed}/claim/", {}),
        (f"/console/escalations/{claimed}/respond/", {"guidance": "Refund it."}),
        (f"/console/escalations/{dismissed}/dismiss/", {"note": "Duplicate."}),
    ]:
        answer = console.post(path, data)
        assert answer.status_code == 302, f"{path}: {answer.status_code} {answer.text[:500]}"

    for path in [f"/api/v1/escalations/{claimed}/", "/api/v1/escalations/", "/api/v1/events/"]:
        answer = requests.get(f"{base}{path}", headers=scene.agent_headers, timeout=60)
        assert answer.status_code < 500 or (
            answer.status_code in API_OUTAGE_STATUSES and "Retry-After" in answer.headers
        ), f"{path}: {answer.status_code}"
    assert answer.status_code == 200
    assert len(receiver.requests) == 1  # nothing reached the worker meanwhile

    mend_redis()
    mended = time.monotonic()
    deliveries = Delivery.objects.filter(endpoint=scene.endpoint)
    # Created, claimed, resolved, dismissed: each committed event has its delivery row.
    assert deliveries.count() >= 6
    wait_until_recorded(scene.endpoint, deliveries.count(), log)
    delivered_after = time.monotonic() - mended

    # Each delivery reached the receiver, signed, under its own webhook-id (sent twice at most
    # when a publish that timed out still reached Redis: the receiver deduplicates on the id).
    assert set(receiver.effects) == {d.webhook_id for d in deliveries}
    ids = sorted([before.json()["id"], claimed, dismissed, left_open])
    created = sorted(
        r["payload"]["data"]["escalation"]["id"]
        for r in receiver.requests
        if r["payload"]["type"] == "escalation.created"
    )
    assert sorted(set(created)) == ids

    # The queue shows the open ones again, and live updates once this daphne retries Redis.
    def queue_live() -> requests.Response | None:
        page = console.get("/console/")
        return None if "Live updates offline" in page.text else page

    queue = wait_until(
        queue_live,
        timeout=WAIT_SECONDS,
        message="the header still says live updates are offline",
    )
    assert f"/console/escalations/{left_open}/" in queue.text
    assert f"/console/escalations/{before.json()['id']}/" in queue.text
    assert f"/console/escalations/{claimed}/" not in queue.text  # answered during the outage
    return OutageFigures([c.seconds for c in creates], page_seconds, delivered_after)


def receiver_holding_the_first(httpserver, secret: str) -> tuple[Receiver, threading.Event, threading.Event]:
    """A Receiver at /hook that holds its first request unanswered until the returned `killed`
    is set (set it once the worker is killed); `arrived` is set when that request comes in."""
    receiver = Receiver(secret)
    arrived, killed = threading.Event(), threading.Event()

    def hold_the_first_until_the_worker_is_killed():
        if not arrived.is_set():
            arrived.set()
            killed.wait(WAIT_SECONDS)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: receiver.handle(request, hold_the_first_until_the_worker_is_killed)
    )
    return receiver, arrived, killed
