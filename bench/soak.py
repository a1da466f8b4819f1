"""Soak test: minutes of mixed traffic against the production-style stack on this machine, then checks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/soak.py [--minutes 10] [--agents 12] [--supervisors 50] [--servers 2]

The stack, all on loopback: a fresh PostgreSQL database of its own
(`soak_<pid>_<time>`, dropped at the end; the database named in the URL is
never opened), Redis (REDIS_URL, else an embedded redis-server) with a
Celery queue and channel-layer prefix of the run's own, `--servers` daphne
processes, one Celery worker, Celery beat (timer sweep every 2 s) and a
webhook receiver that verifies every signature with standardwebhooks and
answers 500 to `--fail-rate` of the requests. The team's targets are one to
four minutes, so breaches, reminders, ladder climbs, claim expiries and
timeouts happen during the run.

The traffic:
- `--agents` concurrent agents: each opens conversations over the API,
  posts user messages (a fifth carry a rule's phrase, so rules fire) and
  agent replies, sometimes calls escalate_to_human directly, and when a
  blocking escalation opens waits for the answer on the long-poll
  (GET /escalations/{id}/?wait=20), now and then withdrawing instead,
  while its user goes on typing (half of it firing a rule again).
- `--supervisors` supervisors, each with a console websocket (session
  cookie, same origin) that keeps its picture of the queue from the events:
  they claim, then respond, dismiss, release or walk away (the lease
  expires), half through the console's POST forms (CSRF, POST/redirect/GET),
  half through the API; a third of the time they all go for the newest
  escalation, so they race. One agent's escalations nobody takes: the
  timers breach, remind, climb and time them out.

At the end (exit 1 on any violation): no 5xx and no unexpected 4xx from our
servers, no traceback in any server's log; every escalation's Event rows,
replayed through the state machine, end in the row's status (with every
event's payload agreeing on the way) and every paused conversation has a
blocking escalation waiting; every webhook delivery succeeded or is
scheduled for a retry, each attempt reached the receiver with the
delivery's webhook-id and a valid signature, none is missing after the
drain; every socket saw every event (live, or on its resume after the
run); no process's memory grew past the leak threshold. It prints p50/p99
per operation, CPU time per request and each process's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import datetime as dt
import json
import os
import platform
import random
import statistics
import threading
import time
from pathlib import Path

import _stack  # bench/ is on sys.path when run as a script
from _db import django_stack

# The team's targets, in minutes (the smallest the model allows is 1): short enough that
# every timer acts within a one-minute run.
SHORT_TARGETS = {
    "high": {"response_minutes": 1, "resolution_minutes": 2, "claim_minutes": 1, "reminder_minutes": 1},
    "medium": {"response_minutes": 1, "resolution_minutes": 3, "claim_minutes": 1, "reminder_minutes": 1},
    "low": {"response_minutes": 2, "resolution_minutes": 4, "claim_minutes": 1, "reminder_minutes": 1},
}
# slug -> (timeout policy, guidance, share of the agents' conversations)
AGENTS = {
    "support-bot": ("keep_waiting", "", 0.45),
    "refund-bot": ("answer", "Offer store credit and log the request.", 0.35),
    # Nobody answers this one's escalations (another shift's): the timers do.
    "night-bot": ("dismiss", "", 0.20),
}
IGNORED_AGENT = "night-bot"
TRIGGERS = ["I want a refund of my order", "this is a chargeback", "let me speak to a human now"]
FILLER = "the parcel arrived late and the box was open but the items look fine otherwise thanks"
ACTIVE = ("open", "claimed")
FINAL = ("resolved", "dismissed", "withdrawn")
# Answers our servers may give in this traffic: 409 is a refused transition (a lost race, an
# escalation closed meanwhile, a paused conversation); anything else 4xx is a defect.
EXPECTED = {200, 201, 302, 409}
# Memory: growth from the end of the warm-up to the end of the run beyond this counts as a leak.
LEAK_MIB, LEAK_SHARE = 16, 0.10
LONG_POLL_WAIT = 20
CONNECT_WAVE = 10  # sockets opened at once


class Stats:
    """What the clients saw: latencies per operation, status codes, failures. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.statuses: collections.Counter = collections.Counter()
        self.violations: list[str] = []
        self.counts: collections.Counter = collections.Counter()

    def time(self, op: str, ms: float) -> None:
        with self.lock:
            self.times[op].append(ms)

    def status(self, op: str, code: int, body: str = "") -> None:
        with self.lock:
            self.statuses[(op, code)] += 1
            if code not in EXPECTED and len(self.violations) < 200:
                self.violations.append(f"{op} answered {code}: {body[:300]}")

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="traffic duration (default 10)")
    parser.add_argument("--agents", type=int, default=12, help="concurrent agents (default 12)")
    parser.add_argument("--supervisors", type=int, default=50, help="console sockets (default 50)")
    parser.add_argument("--servers", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--fail-rate", type=float, default=0.10, help="receiver's share of 500s")
    parser.add_argument("--drain", type=float, default=20, help="seconds after the traffic (default 20)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here (default: deleted)")
    args = parser.parse_args()
    random.seed(args.seed)

    run = f"soak_{os.getpid()}_{int(time.time())}"
    env = {
        "LOG_LEVEL": "WARNING",
        "API_RATE_AGENT_KEY": "1000000/minute",
        "API_RATE_USER": "1000000/minute",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
        # A queue and channel groups of the run's own: other runs on a shared Redis have a team 1 too.
        "CELERY_QUEUE": run,
        "CHANNEL_LAYER_PREFIX": run,
        "TIMER_SWEEP_SECONDS": "2",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    }
    with django_stack(run, **env):
        var = Path(os.environ["VAR_DIR"])
        os.environ["EMAIL_FILE_PATH"] = str(var / "emails")
        logs = args.logs or var / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        processes: dict[str, object] = {}
        try:
            world = _prepare(args.supervisors, var)
            receiver_port = _stack.free_port()
            _endpoints(world, f"http://127.0.0.1:{receiver_port}", var / "secrets.json")
            processes["receiver"] = _stack.start_receiver(
                receiver_port,
                fail_rate=args.fail_rate,
                secrets_file=str(var / "secrets.json"),
                record_file=str(var / "received.jsonl"),
            )
            daphne_log = open(logs / "daphne.log", "w")  # noqa: SIM115 (closed with the processes)
            servers, ports = _stack.start_daphne(args.servers, log=daphne_log)
            for k, server in enumerate(servers):
                processes[f"daphne {k + 1}"] = server
            processes["worker"] = _stack.start_celery(
                "worker", "--pool=threads", "--concurrency=4", log=open(logs / "worker.log", "w")
            )
            processes["beat"] = _stack.start_celery(
                "beat", f"--schedule={var / 'beat-schedule'}", log=open(logs / "beat.log", "w")
            )
            stats = Stats()
            print(_header(args), flush=True)
            result = asyncio.run(Soak(args, world, ports, stats, processes).run())
            _stack.stop([p for name, p in processes.items() if not name.startswith("daphne")])
            failures = _check(world, stats, result, var, logs)
            _report(args, stats, result)
        finally:
            _stack.stop(list(processes.values()))
            _stack.purge_queue(run)
    if failures:
        print("\nVIOLATIONS:")
        for failure in failures:
            print(f"- {failure}")
        raise SystemExit(1)
    print("\nNo violations.")


def _header(args) -> str:
    from django.db import connection

    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {connection.vendor} · "
        f"{args.servers} daphne · "
        f"{args.agents} agents · {args.supervisors} supervisors · {args.minutes:g} min · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · load {_load()}"
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- Setup ---------------------------------------------------------------------------------


def _prepare(supervisors: int, var: Path) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from agents.keys import agent_key_create
    from agents.models import Agent, EscalationRule, RuleKind
    from escalations.models import LadderLevel
    from escalations.team_settings import urgency_target_set
    from supervisors.models import Membership, Role, Team

    call_command("migrate", interactive=False, verbosity=0)
    # Production settings serve hashed static files from a manifest in VAR_DIR.
    call_command("collectstatic", interactive=False, verbosity=0)
    team = Team.objects.create(name="Soak", slug="soak")
    for urgency, minutes in SHORT_TARGETS.items():
        urgency_target_set(team_id=team.pk, urgency=urgency, **minutes)
    LadderLevel.objects.create(team=team, number=1, after_minutes=1)
    LadderLevel.objects.create(team=team, number=2, after_minutes=1, min_urgency="high", notify_owners=True)
    User = get_user_model()
    owner = User.objects.create_user("soak-owner", "owner@example.com")
    Membership.objects.create(user=owner, team=team, role=Role.OWNER)
    keys, shares = {}, {}
    for slug, (policy, guidance, share) in AGENTS.items():
        agent = Agent.objects.create(
            team=team, name=slug.replace("-", " ").title(), slug=slug, description="Soak traffic.",
            timeout_policy=policy, timeout_guidance=guidance,
        )  # fmt: skip
        EscalationRule.objects.create(
            agent=agent, name="Refunds", kind=RuleKind.PHRASES,
            parameters={"phrases": ["refund", "chargeback"]},
            severity="warning", reason_template="Customer asked for a refund",
        )  # fmt: skip
        EscalationRule.objects.create(
            agent=agent, name="Wants a person", kind=RuleKind.ASKS_FOR_HUMAN, parameters={},
            severity="critical", reason_template="Customer asked for a human",
        )  # fmt: skip
        keys[slug] = agent_key_create(agent=agent, name="soak")[1]
        shares[slug] = share
    cookies = {}
    for k in range(supervisors):
        # A few with an address, so the new-critical, reminder and ladder emails are sent too.
        user = User.objects.create_user(f"sup-{k:02d}", f"sup-{k:02d}@example.com" if k < 5 else "")
        Membership.objects.create(user=user, team=team, role=Role.SUPERVISOR)
        client = Client()
        client.force_login(user)
        cookies[user.username] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"team": team, "keys": keys, "shares": shares, "cookies": cookies, "var": var}


def _endpoints(world: dict, receiver: str, secrets_file: Path) -> None:
    """Two endpoints on the receiver; it gets their secrets to verify the signatures."""
    from webhooks import services

    secrets = {}
    for name in ("a", "b"):
        endpoint = services.endpoint_create(team=world["team"], url=f"{receiver}/hook/{name}")
        secrets[f"/hook/{name}"] = endpoint.secret
    secrets_file.write_text(json.dumps(secrets))


# --- Traffic -----------------------------------------------------------------------------


def _parse(moment: str) -> float:
    return dt.datetime.fromisoformat(moment).timestamp()


class Soak:
    def __init__(self, args, world: dict, ports: list[int], stats: Stats, processes: dict) -> None:
        import requests

        self.requests = requests
        self.args, self.world, self.ports, self.stats, self.processes = args, world, ports, stats, processes
        self.stopping = False
        # Every client call is a blocking `requests` call on a thread of its own: a long-poll
        # holds one for up to LONG_POLL_WAIT seconds.
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.agents + args.supervisors + 16)
        self.samples: list[tuple[float, dict[str, int], dict[str, float]]] = []
        self.sockets: list[Supervisor] = []

    async def run(self) -> dict:
        loop = asyncio.get_running_loop()
        names = list(self.world["cookies"])
        self.sockets = [
            Supervisor(self, name, self.ports[k % len(self.ports)]) for k, name in enumerate(names)
        ]
        # In waves, as console.py does: all at once, daphne drops the handshakes its app has not
        # accepted within 5 s on a loaded machine (each connect announces presence to the team).
        for first in range(0, len(self.sockets), CONNECT_WAVE):
            await asyncio.gather(*(s.connect() for s in self.sockets[first : first + CONNECT_WAVE]))
        watchers = [asyncio.create_task(s.read()) for s in self.sockets]
        actors = [asyncio.create_task(self.keep_going(s.username, s.act())) for s in self.sockets]
        pingers = [asyncio.create_task(s.ping()) for s in self.sockets]
        agents = [asyncio.create_task(self.agent(k)) for k in range(self.args.agents)]
        sampler = asyncio.create_task(self.sample())
        started = time.monotonic()
        await asyncio.sleep(self.args.minutes * 60)
        traffic_seconds = time.monotonic() - started
        self.sample_now()
        self.stopping = True
        cpu = self.cpu()
        await asyncio.gather(*agents, *actors)
        for task in (sampler, *pingers):
            task.cancel()
        # The drain: timers and webhook retries go on, the sockets keep listening.
        await asyncio.sleep(self.args.drain)
        await loop.run_in_executor(self.pool, self.quiesce)
        missing_live = {s.username: len(s.missing()) for s in self.sockets}
        await asyncio.gather(*(s.catch_up() for s in self.sockets))
        for task in watchers:
            task.cancel()
        await asyncio.gather(*(s.socket.close() for s in self.sockets), return_exceptions=True)
        self.pool.shutdown(wait=False)
        return {
            "seconds": traffic_seconds,
            "cpu": cpu,
            "samples": self.samples,
            "missing_live": missing_live,
            "missing_after_resume": {s.username: sorted(s.missing()) for s in self.sockets if s.missing()},
        }

    def quiesce(self) -> None:
        """Stop beat, then wait until the worker has sent every first attempt and the event log is still."""
        from escalations.models import Event
        from webhooks.models import Delivery, DeliveryStatus

        _stack.stop([self.processes["beat"]])
        deadline, quiet_since, last = time.monotonic() + 60, None, None
        while time.monotonic() < deadline:
            state = (
                Event.objects.order_by("-id").values_list("id", flat=True).first(),
                Delivery.objects.filter(status=DeliveryStatus.PENDING).count(),
            )
            if state == last and state[1] == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 3:
                    break
            else:
                quiet_since = None
            last = state
            time.sleep(0.5)
        self.team_event_ids = set(Event.objects.values_list("id", flat=True))

    # Memory and CPU of each process, from /proc.

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items() if name != "receiver"}

    def sample_now(self) -> None:
        self.samples.append(
            (time.monotonic(), {name: _stack.rss_bytes(pid) for name, pid in self.pids().items()}, self.cpu())
        )

    def cpu(self) -> dict[str, float]:
        cpu = {name: _stack.cpu_seconds(pid) for name, pid in self.pids().items()}
        cpu["postgres"] = _stack.postgres_cpu_seconds()
        cpu["client"] = sum(os.times()[:2])
        return cpu

    async def sample(self) -> None:
        while True:
            self.sample_now()
            await asyncio.sleep(5)

    # HTTP, on the pool.

    async def call(self, session, method: str, url: str, op: str, *, record: bool = True, **kwargs):
        """One request; its time under `op`, its status counted. None if it never got an answer."""

        def send():
            started = time.perf_counter()
            try:
                response = session.request(method, url, timeout=LONG_POLL_WAIT + 30, **kwargs)
            except self.requests.RequestException as error:
                self.stats.violation(f"{op}: no answer ({error!r})")
                return None
            if record:
                self.stats.time(op, (time.perf_counter() - started) * 1000)
            self.stats.status(op, response.status_code, response.text if response.status_code >= 400 else "")
            return response

        return await asyncio.get_running_loop().run_in_executor(self.pool, send)

    # An agent.

    async def agent(self, k: int) -> None:
        await self.keep_going(f"agent {k}", self.converse(k))

    async def keep_going(self, who: str, work) -> None:
        """Run an actor; an exception in it (an answer the client did not expect) is a violation."""
        try:
            await work
        except Exception as error:
            self.stats.violation(f"{who} stopped: {error!r}")

    async def converse(self, k: int) -> None:
        base = f"http://127.0.0.1:{self.ports[k % len(self.ports)]}/api/v1"
        slugs = list(self.world["shares"])
        sessions = {}
        for slug in slugs:
            session = self.requests.Session()
            session.headers["Authorization"] = f"Bearer {self.world['keys'][slug]}"
            sessions[slug] = session
        n = 0
        while not self.stopping:
            slug = random.choices(slugs, weights=[self.world["shares"][s] for s in slugs])[0]
            session = sessions[slug]
            n += 1
            response = await self.call(
                session, "POST", f"{base}/conversations/", "open conversation",
                json={"external_id": f"agent{k}-{n}", "channel": "chat"},
            )  # fmt: skip
            if response is None or response.status_code != 201:
                await asyncio.sleep(1)
                continue
            conversation = response.json()["id"]
            paused = False
            for _ in range(random.randint(3, 7)):
                if self.stopping:
                    break
                if random.random() < 0.12:
                    response = await self.call(
                        session, "POST", f"{base}/escalations/", "escalate",
                        json={"conversation_id": conversation, "reason": "The agent is unsure: refund rules",
                              "severity": random.choice(["info", "warning", "critical"]),
                              "blocking": random.random() < 0.85},
                    )  # fmt: skip
                    escalation = (
                        response.json() if response is not None and response.status_code < 300 else None
                    )
                else:
                    content = FILLER
                    if random.random() < 0.2:
                        content = f"{random.choice(TRIGGERS)}, {FILLER}"
                    response = await self.call(
                        session, "POST", f"{base}/conversations/{conversation}/messages/", "post message",
                        json={"role": "user", "content": content},
                    )  # fmt: skip
                    escalation = (
                        response.json()["escalation"]
                        if response is not None and response.status_code < 300
                        else None
                    )
                if escalation is not None:
                    self.stats.count("escalations opened or added to")
                    if escalation["blocking"] and escalation["status"] in ACTIVE:
                        paused = await self.wait_for_answer(session, base, escalation["id"], conversation)
                if not paused and not self.stopping:
                    await self.call(
                        session, "POST", f"{base}/conversations/{conversation}/messages/", "post message",
                        json={"role": "agent", "content": "Thanks, let me check that for you."},
                    )  # fmt: skip
                await asyncio.sleep(random.uniform(0.3, 1.2))

    async def wait_for_answer(self, session, base: str, escalation_id: int, conversation: int) -> bool:
        """Long-poll until the escalation is final; True if it is still waiting when the run stops.

        Meanwhile the user, who cannot see that a person is coming, goes on typing.
        """
        typing = asyncio.create_task(self.keep_going("a user", self.user_types(session, base, conversation)))
        try:
            return await self.long_poll(session, base, escalation_id)
        finally:
            typing.cancel()

    async def user_types(self, session, base: str, conversation: int) -> None:
        while not self.stopping:
            await asyncio.sleep(random.uniform(1, 5))
            # Some of it fires a rule again: evidence for the waiting escalation, at any moment,
            # also the moment a supervisor answers it.
            content = random.choice(["hello? anyone there?", f"{random.choice(TRIGGERS)}, please"])
            await self.call(
                session, "POST", f"{base}/conversations/{conversation}/messages/", "post message",
                json={"role": "user", "content": content},
            )  # fmt: skip

    async def long_poll(self, session, base: str, escalation_id: int) -> bool:
        while not self.stopping:
            if random.random() < 0.03:
                await self.call(
                    session, "POST", f"{base}/escalations/{escalation_id}/withdraw/", "withdraw",
                    json={"reason": "The customer left."},
                )  # fmt: skip
                return False
            asked = time.time()
            response = await self.call(
                session, "GET", f"{base}/escalations/{escalation_id}/?wait={LONG_POLL_WAIT}", "long-poll",
                record=False,
            )  # fmt: skip
            if response is None or response.status_code != 200:
                return True
            body = response.json()
            if body["status"] in FINAL:
                closed = _parse(body["closed_at"])
                if closed > asked:  # it was waiting when the answer came: the wake-up time
                    self.stats.time("long-poll wake-up", (time.time() - closed) * 1000)
                self.stats.count(f"long-poll answered {body['status']}")
                return False
        return True


class Supervisor:
    """One person at the console: a websocket for the live queue, a requests session for actions."""

    def __init__(self, soak: Soak, username: str, port: int) -> None:
        self.soak, self.username, self.port = soak, username, port
        self.base = f"http://127.0.0.1:{port}"
        self.session = soak.requests.Session()
        self.cookie = soak.world["cookies"][username]
        self.session.cookies.set("sessionid", self.cookie, domain="127.0.0.1", path="/")
        # escalation id -> the escalation as the last event said
        self.known: dict[int, dict] = {}
        self.mine: set[int] = set()
        self.seen: set[int] = set()
        self.resumed = asyncio.Event()
        self.replaying = False  # events of a resume are not timed: they are not live

    async def connect(self) -> None:
        response = await self.soak.call(self.session, "GET", f"{self.base}/console/", "console queue page")
        self.csrf = self.session.cookies.get("csrftoken")
        if response is None or response.status_code != 200 or not self.csrf:
            raise SystemExit(f"{self.username} could not open the console")
        self.socket = await self.open_socket()

    async def open_socket(self):
        """The console's socket; retried with a backoff as console.js does, each retry counted."""
        import websockets
        from django.conf import settings

        for attempt in range(6):
            started = time.perf_counter()
            try:
                socket = await websockets.connect(
                    f"ws://127.0.0.1:{self.port}/ws/console/",
                    origin=self.base,
                    additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"},
                    max_queue=None,
                )
            except websockets.InvalidStatus as refused:  # an HTTP answer instead of the upgrade: a defect
                self.soak.stats.status("socket connect", refused.response.status_code, str(refused))
                raise SystemExit(f"{self.username}'s socket was refused: {refused}") from None
            except (OSError, websockets.InvalidMessage, TimeoutError) as error:
                self.soak.stats.count(f"socket connects retried ({type(error).__name__})")
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            self.soak.stats.time("socket connect", (time.perf_counter() - started) * 1000)
            return socket
        raise SystemExit(f"{self.username} could not open the console's socket")

    async def read(self) -> None:
        async for raw in self.socket:
            at = time.time()
            message = json.loads(raw)
            if message.get("type") in ("resumed", "reload"):
                self.resumed.set()
            if message.get("type") != "event":
                continue
            if message["id"] not in self.seen and not self.replaying:
                self.soak.stats.time("event → socket", (at - _parse(message["created_at"])) * 1000)
            self.seen.add(message["id"])
            escalation = message["data"].get("escalation")
            # Two processes' publishes may cross: the newest event says how it is now.
            if escalation and message["id"] > self.known.get(escalation["id"], {}).get("event_id", 0):
                self.known[escalation["id"]] = {**escalation, "event_id": message["id"]}

    async def ping(self) -> None:
        while True:  # as console.js does: keeps the supervisor online
            await asyncio.sleep(20)
            await self.socket.send(json.dumps({"type": "ping"}))

    def missing(self) -> set[int]:
        return self.soak.team_event_ids - self.seen

    async def catch_up(self) -> None:
        """Ask for what the live stream lost, as console.js does after a reconnect."""
        missing = self.missing()
        if not missing:
            return
        self.resumed.clear()
        self.replaying = True
        await self.socket.send(json.dumps({"type": "resume", "after": min(missing) - 1}))
        try:
            await asyncio.wait_for(self.resumed.wait(), 30)
        except TimeoutError:
            self.soak.stats.violation(f"{self.username}: no 'resumed' within 30 s of a resume")

    async def act(self) -> None:
        await asyncio.sleep(random.uniform(0, 3))
        while not self.soak.stopping:
            # A person reads before acting; 50 people at this pace still race for the newest.
            await asyncio.sleep(random.uniform(2, 10))
            if self.soak.stopping:
                return
            for escalation_id in list(self.mine):
                current = self.known.get(escalation_id, {})
                if current.get("status") != "claimed" or current.get("claimed_by") != self.username:
                    self.mine.discard(escalation_id)  # expired, or someone else answered it
            if self.mine:
                escalation_id = self.mine.pop()
                choice = random.random()
                if choice < 0.6:
                    await self.action(escalation_id, "respond")
                elif choice < 0.8:
                    await self.action(escalation_id, "dismiss")
                elif choice < 0.9:
                    await self.action(escalation_id, "release")
                else:
                    self.soak.stats.count("claims abandoned (left to expire)")
                continue
            waiting = [
                pk
                for pk, e in self.known.items()
                if e["status"] == "open" and e["agent"]["slug"] != IGNORED_AGENT
            ]
            if not waiting:
                continue
            # A third of the time everyone goes for the newest: races.
            escalation_id = max(waiting) if random.random() < 0.33 else random.choice(waiting)
            if random.random() < 0.15:
                await self.action(escalation_id, "respond")  # answering an open one claims it on the way
            elif await self.action(escalation_id, "claim"):
                self.mine.add(escalation_id)

    async def action(self, escalation_id: int, verb: str) -> bool:
        """The verb through the console's form or the API, at random; True if it was done."""
        data = {
            "respond": {"guidance": "Refund approved: go ahead."},
            "dismiss": {"note": "Not needed."},
        }.get(verb, {})
        headers = {"Origin": self.base, "Referer": f"{self.base}/console/escalations/{escalation_id}/"}
        if random.random() < 0.5:
            response = await self.soak.call(
                self.session, "POST", f"{self.base}/api/v1/escalations/{escalation_id}/{verb}/",
                f"{verb} · api",
                json=data, headers={**headers, "X-CSRFToken": self.csrf},
            )  # fmt: skip
            done = response is not None and response.status_code == 200
        else:
            response = await self.soak.call(
                self.session, "POST", f"{self.base}/console/escalations/{escalation_id}/{verb}/",
                f"{verb} · console", data={**data, "csrfmiddlewaretoken": self.csrf}, headers=headers,
                allow_redirects=False,
            )  # fmt: skip
            if response is None or response.status_code != 302:
                return False
            # POST/redirect/GET, as the browser does; the page says whether it was done.
            page = await self.soak.call(
                self.session, "GET", self.base + response.headers["Location"], "console escalation page"
            )
            done = page is not None and page.status_code == 200 and CONSOLE_DONE[verb] in page.text
        self.soak.stats.count(f"{verb} {'done' if done else 'refused'}")
        return done


# What the console's page says after each verb was done (supervisors/views.py).
CONSOLE_DONE = {
    "claim": "You claimed this escalation.",
    "release": "Released: it is back in the queue.",
    "respond": "Sent: the agent resumes with your guidance.",
    "dismiss": "Dismissed: the agent proceeds on its own.",
}


# --- Checks ----------------------------------------------------------------------------------

# Event type -> (statuses it may follow, status after it); None: the status stays (must be active).
REPLAY = {
    "escalation.created": ((None,), "open"),
    "escalation.claimed": (("open",), "claimed"),
    "escalation.released": (("claimed",), "open"),
    "escalation.resolved": (ACTIVE, "resolved"),
    "escalation.dismissed": (ACTIVE, "dismissed"),
    "escalation.withdrawn": (ACTIVE, "withdrawn"),
    "escalation.updated": (ACTIVE, None),
    "escalation.sla_breached": (ACTIVE, None),
    "escalation.reminder": (ACTIVE, None),
    "escalation.escalated": (("open",), None),
}


def replay_problems(
    rows: list[tuple[int, str, str | None]], events: list[tuple[int, int, str, dict]]
) -> list[str]:
    """Replay each escalation's events through the state machine and compare with its row.

    rows: (id, status, claimed_by username); events: (escalation id, event id, type, payload),
    in event id order.
    """
    by_escalation: dict[int, list] = collections.defaultdict(list)
    for escalation_id, event_id, event_type, payload in events:
        by_escalation[escalation_id].append((event_id, event_type, payload))
    problems = []
    for escalation_id, status, claimed_by in rows:
        state, holder = None, None
        for event_id, event_type, payload in by_escalation.get(escalation_id, []):
            allowed, after = REPLAY[event_type]
            if state not in allowed:
                problems.append(f"escalation {escalation_id}: event {event_id} {event_type} after {state}")
            state = after or state
            holder = payload["escalation"]["claimed_by"] if state == "claimed" else None
            if payload["escalation"]["status"] != state:
                problems.append(
                    f"escalation {escalation_id}: event {event_id} {event_type} carries status "
                    f"{payload['escalation']['status']}, the replay says {state}"
                )
        if state != status:
            problems.append(f"escalation {escalation_id}: the row says {status}, its events say {state}")
        elif status == "claimed" and claimed_by != holder:
            problems.append(f"escalation {escalation_id}: claimed by {claimed_by}, its events say {holder}")
    return problems


def webhook_problems(deliveries: list[dict], received: list[dict]) -> list[str]:
    """Every delivery succeeded or is scheduled for a retry, and the receiver saw each attempt of it,
    signed, under the delivery's webhook-id, with the status the attempt recorded; nothing else arrived.

    deliveries: {webhook_id, status, next_attempt_at (epoch or None), attempts: [status codes]}.
    """
    by_id = collections.defaultdict(list)
    for line in received:
        by_id[line["webhook_id"]].append(line)
    problems = []
    known = set()
    for delivery in deliveries:
        webhook_id = delivery["webhook_id"]
        known.add(webhook_id)
        status = delivery["status"]
        if status == "retrying":
            if delivery["next_attempt_at"] is None:
                problems.append(f"{webhook_id}: retrying with no next attempt")
        elif status != "succeeded":
            problems.append(f"{webhook_id}: {status} after {len(delivery['attempts'])} attempt(s)")
        seen = sorted(by_id.get(webhook_id, []), key=lambda line: line["at"])
        if [line["status"] for line in seen] != delivery["attempts"]:
            problems.append(
                f"{webhook_id}: attempts recorded {delivery['attempts']}, the receiver saw "
                f"{[line['status'] for line in seen]}"
            )
        unsigned = [line for line in seen if not line["verified"]]
        if unsigned:
            problems.append(f"{webhook_id}: {len(unsigned)} request(s) with a signature that did not verify")
    strangers = set(by_id) - known
    if strangers:
        problems.append(
            f"the receiver got {len(strangers)} webhook-id(s) of no delivery: {sorted(strangers)[:3]}"
        )
    return problems


def _check(world: dict, stats: Stats, result: dict, var: Path, logs: Path) -> list[str]:
    from agents.models import Conversation, ConversationStatus
    from escalations.models import Escalation, Event
    from webhooks.models import Delivery
    from webhooks.policy import MAX_ATTEMPTS

    failures = list(stats.violations)
    if not stats.times.get("post message"):
        failures.append("no traffic: nothing was posted")

    rows = list(Escalation.objects.values_list("id", "status", "claimed_by__username"))
    events = list(
        Event.objects.filter(escalation__isnull=False)
        .order_by("id")
        .values_list("escalation_id", "id", "type", "payload")
    )
    failures += replay_problems(rows, events)
    stats.count("escalations", len(rows))
    for status, n in collections.Counter(status for _, status, _ in rows).items():
        stats.count(f"escalations {status} at the end", n)
    stats.count("events", Event.objects.count())
    for event_type, n in collections.Counter(event_type for _, _, event_type, _ in events).items():
        stats.count(f"events {event_type}", n)

    # A paused conversation waits for a blocking escalation; an answered one is not paused.
    paused = set(
        Conversation.objects.filter(status=ConversationStatus.AWAITING_HUMAN).values_list("id", flat=True)
    )
    waiting = set(
        Escalation.objects.filter(status__in=ACTIVE, blocking=True).values_list("conversation_id", flat=True)
    )
    if paused != waiting:
        failures.append(
            f"conversations paused with no blocking escalation waiting: {sorted(paused - waiting)[:5]}; "
            f"blocking escalations whose conversation is not paused: {sorted(waiting - paused)[:5]}"
        )

    endpoints = 2
    delivery_count, event_count = Delivery.objects.count(), Event.objects.count()
    if delivery_count != event_count * endpoints:
        failures.append(f"{delivery_count} deliveries for {event_count} events x {endpoints} endpoints")
    attempts = collections.defaultdict(list)
    for delivery_id, code in Delivery.objects.values_list("id", "attempts__status_code").order_by(
        "id", "attempts__number"
    ):
        if code is not None:
            attempts[delivery_id].append(code)
    deliveries = [
        {
            "webhook_id": f"msg_{message_id.hex}",
            "status": status,
            "next_attempt_at": next_at.timestamp() if next_at else None,
            "attempts": attempts[pk],
        }
        for pk, message_id, status, next_at in Delivery.objects.values_list(
            "id", "message_id", "status", "next_attempt_at"
        )
    ]
    received_path = var / "received.jsonl"
    received = (
        [json.loads(line) for line in received_path.read_text().splitlines()]
        if received_path.exists()
        else []
    )
    failures += webhook_problems(deliveries, received)
    stats.count("webhook deliveries", len(deliveries))
    stats.count("webhook requests received", len(received))
    stats.count("webhook requests answered 500", sum(1 for line in received if line["status"] == 500))
    for status, n in collections.Counter(d["status"] for d in deliveries).items():
        stats.count(f"deliveries {status} at the end", n)
    stats.count("deliveries needing a retry", sum(1 for d in deliveries if len(d["attempts"]) > 1))
    if any(len(d["attempts"]) >= MAX_ATTEMPTS for d in deliveries):
        failures.append("a delivery used every attempt")
    _webhook_latency(stats)

    for username, missing in result["missing_after_resume"].items():
        failures.append(f"{username}'s socket never got events {missing[:5]} (live or on resume)")
    failures += _memory_problems(result)
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            start = text.index("Traceback")
            failures.append(
                f"{log.name} has {text.count('Traceback')} traceback(s), first: {text[start : start + 600]}"
            )
    return failures


def _webhook_latency(stats: Stats) -> None:
    """Enqueue (the Delivery row, written with its event) -> the attempt that succeeded, from the database."""
    from webhooks.models import Attempt, AttemptOutcome

    for created, started, ms, number in Attempt.objects.filter(outcome=AttemptOutcome.SUCCEEDED).values_list(
        "delivery__created_at", "started_at", "duration_ms", "number"
    ):
        total = (started - created).total_seconds() * 1000 + ms
        stats.time("webhook enqueue → delivered", total)
        if number == 1:
            stats.time("webhook enqueue → delivered, first attempt", total)


def _memory_window(result: dict) -> tuple[dict, dict]:
    """RSS at the end of the warm-up (a third of the run, at most a minute) and at the end."""
    samples = result["samples"]
    first = samples[0][0]
    warm = min(60.0, result["seconds"] / 3)
    start = next((s for s in samples if s[0] - first >= warm), samples[-1])
    return start[1], samples[-1][1]


def _memory_problems(result: dict) -> list[str]:
    start, end = _memory_window(result)
    problems = []
    for name, before in start.items():
        growth = end[name] - before
        if growth > max(LEAK_MIB * 2**20, LEAK_SHARE * before):
            problems.append(
                f"{name} grew {growth / 2**20:.1f} MiB ({before / 2**20:.0f} → {end[name] / 2**20:.0f})"
            )
    return problems


# --- Report ----------------------------------------------------------------------------------


def _q(values: list[float], percent: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[percent - 1] if len(values) > 1 else values[0]
    )


def _report(args, stats: Stats, result: dict) -> None:
    seconds = result["seconds"]
    print(f"\nTraffic {seconds:.0f} s, then a {args.drain:g} s drain; load at the end {_load()}\n")
    print("| operation | n | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for op in sorted(stats.times):
        values = stats.times[op]
        print(f"| {op} | {len(values)} | {_q(values, 50):.1f} | {_q(values, 99):.1f} | {max(values):.1f} |")
    requests = sum(n for (op, _), n in stats.statuses.items())
    codes = collections.Counter()
    for (_, code), n in stats.statuses.items():
        codes[code] += n
    print(f"\nHTTP answers: {requests} ({', '.join(f'{c}: {n}' for c, n in sorted(codes.items()))})")
    first = result["samples"][0][2]
    cpu = {name: result["cpu"][name] - first.get(name, 0) for name in result["cpu"]}
    print(
        "CPU ms per HTTP request during the traffic: "
        + ", ".join(f"{name} {seconds_used / requests * 1000:.2f}" for name, seconds_used in cpu.items())
        + f"; all {sum(cpu.values()) / requests * 1000:.2f} "
        f"(the {os.cpu_count()} cores gave {os.cpu_count() * seconds / requests * 1000:.2f})"
    )
    start, end = _memory_window(result)
    at_start = result["samples"][0][1]
    print(
        "RSS MiB, first sample / end of warm-up → end: "
        + ", ".join(
            f"{name} {at_start[name] / 2**20:.0f} / {start[name] / 2**20:.0f} → {end[name] / 2**20:.0f}"
            for name in start
        )
        + f" (a leak: growth over {LEAK_MIB} MiB and {LEAK_SHARE:.0%})"
    )
    live = result["missing_live"]
    print(
        f"Socket events missed live (then replayed on resume): {sum(live.values())} over {len(live)} sockets"
    )
    print()
    for what in sorted(stats.counts):
        print(f"- {what}: {stats.counts[what]}")


if __name__ == "__main__":
    main()
