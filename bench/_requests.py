"""The request benches' common part (api_create.py, messages.py): sides, servers, load, CPU, report.

A *side* is one checkout of the project (this one, or `--code DIR` / `--compare DIR`)
with its own fresh database (seeded by that checkout's code, bench/_seed.py) and its
own embedded redis-server: two checkouts' caches and queues never see each other's
keys, and nothing lands in a shared Redis. Servers run with cwd=DIR and PYTHONPATH=DIR,
so DIR's code answers.

A *server* is how HTTP is served: `daphne` (N processes, as `make run` and the Procfile
up to issue 17 run it), `sync` (gunicorn, N sync workers) or `gthread` (gunicorn, N
workers of T threads, as the Procfile's `web` since issue 17). Each measurement starts
its servers, warms them up, reads their CPU time from /proc, sends the timed requests,
reads it again and stops them.

The *floor* of a side: the CPU per request of GET /healthz served by gunicorn sync
workers from the same code and settings (issue 17), measured in the same run. Every
row's CPU per request is printed as a multiple of it.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import _stack  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

SERVER_KINDS = ("daphne", "sync", "gthread")

# A request to send: method, path and body (None for a GET).
Request = tuple[str, str, bytes | None]
# Given the answer's status and body, None when it is what the bench expects, else why not.
Check = Callable[[int, bytes], str | None]
# One request of a plan: its name, requests(run) -> (i -> Request) where `run` numbers the
# side's measurements (so each can use names and seeded rows of its own), and the check.
Plan = list[tuple[str, Callable[[int], Callable[[int], Request]], Check]]


@dataclass
class Side:
    """One checkout, its database and Redis, and what its seed made."""

    label: str
    code: Path
    env: dict[str, str]
    workdir: Path
    key: str = ""
    conversations: list[int] = field(default_factory=list)
    admin_url: str | None = None
    database: str = ""
    redis: subprocess.Popen | None = None


@dataclass
class Result:
    side: str
    server: str
    request: str
    latencies: list[float]
    statuses: dict[int, int]
    problems: dict[str, int]
    elapsed: float
    server_cpu: float
    postgres_cpu: float
    client_cpu: float

    @property
    def n(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.n / self.elapsed

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu / self.n * 1000

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


def add_arguments(parser, *, n: int) -> None:
    parser.add_argument("--n", type=int, default=n, help=f"timed requests per measurement (default {n})")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--servers",
        default="daphne,gthread",
        help="how HTTP is served, comma-separated: daphne, sync (gunicorn sync workers), "
        "gthread (gunicorn threads workers, as the Procfile's `web`) (default daphne,gthread)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="daphne processes (default: 1 on SQLite, as `make run`; 2 on PostgreSQL)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1),
        help="gunicorn workers, the floor's too (default 2 per CPU, as the Procfile's `web`)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument(
        "--clients", type=int, default=4, help="client processes sharing --concurrency (default 4)"
    )
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose servers answer")
    parser.add_argument(
        "--compare",
        type=Path,
        default=None,
        help="a second checkout (e.g. the code before a change): both measured, interleaved, with ratios",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --compare: alternate the order this often"
    )


@contextlib.contextmanager
def side(label: str, code: Path, database: str, *, conversations: int) -> Iterator[Side]:
    """A fresh database (PostgreSQL when DATABASE_URL is set, else SQLite in a temporary VAR_DIR)
    and an embedded Redis for the checkout `code`, seeded; all removed after."""
    code = code.resolve()
    if not (code / "escalation_project" / "settings.py").exists():
        sys.exit(f"{code} is not a checkout of the project")
    workdir = Path(tempfile.mkdtemp(prefix=f"{database}-"))
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="escalation_project.settings",
        PYTHONPATH=str(code),
        VAR_DIR=str(workdir / "var"),
        # The bench measures the service, not the rate limit.
        API_RATE_AGENT_KEY="1000000/minute",
    )
    the_side = Side(label=label, code=code, env=env, workdir=workdir, database=database)
    try:
        url = os.environ.get("DATABASE_URL", "")
        if url:
            env["DATABASE_URL"], the_side.admin_url = _fresh_postgres_database(url, database)
        else:
            # What `make run` gives a newcomer: readable log lines (the Makefile's LOG_FORMAT).
            env.setdefault("LOG_FORMAT", "text")
        from escalation_project import embedded_redis

        port = embedded_redis.free_port()
        the_side.redis = embedded_redis.start(port, workdir / "redis")
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        seeded = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("_seed.py")), str(code), str(conversations)],
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
        )
        if seeded.returncode != 0:
            sys.exit(f"seeding {label} failed:\n{seeded.stderr}")
        made = json.loads(seeded.stdout.strip().splitlines()[-1])
        the_side.key, the_side.conversations = made["key"], made["conversations"]
        yield the_side
    finally:
        if the_side.admin_url:
            from _db import drop_database

            drop_database(the_side.admin_url, database)
        if the_side.redis is not None:
            from escalation_project import embedded_redis

            embedded_redis.stop(the_side.redis)
        shutil.rmtree(workdir, ignore_errors=True)


def _fresh_postgres_database(url: str, name: str) -> tuple[str, str]:
    from _db import drop_database

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"DATABASE_URL must be PostgreSQL (or unset for SQLite), not {parts.scheme}://")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    drop_database(admin_url, name)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), admin_url


# --- Servers -----------------------------------------------------------------------------


@dataclass
class Servers:
    kind: str
    processes: list[subprocess.Popen]
    ports: list[int]
    log: IO

    def stop(self) -> None:
        _stack.stop(self.processes)
        self.log.close()

    def pids(self) -> list[int]:
        """The serving processes: daphne's, or gunicorn's arbiter and its workers."""
        pids = []
        for process in self.processes:
            pids.append(process.pid)
            pids.extend(_stack.children(process.pid))
        return pids

    def cpu_seconds(self) -> float:
        return sum(_stack.cpu_seconds(pid) for pid in self.pids())


def wsgi_application(code: Path) -> str:
    """The checkout's WSGI application; Django's own factory for a checkout that has no wsgi.py."""
    if (code / "escalation_project" / "wsgi.py").exists():
        return "escalation_project.wsgi:application"
    return "django.core.wsgi:get_wsgi_application()"


def start_servers(the_side: Side, kind: str, processes: int, *, threads: int = 4) -> Servers:
    log = open(the_side.workdir / f"{kind}.log", "ab")  # noqa: SIM115 (closed with the servers' end)
    started: list[subprocess.Popen] = []
    ports: list[int] = []
    if kind == "daphne":
        # -v 0, as runstack starts it: the app logs each request itself (request_id.py).
        commands = []
        for _ in range(processes):
            ports.append(_stack.free_port())
            commands.append([sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p",
                             str(ports[-1]), "escalation_project.asgi:application"])  # fmt: skip
    elif kind in ("sync", "gthread"):
        ports.append(_stack.free_port())
        workers = ["--worker-class", "sync"] if kind == "sync" else ["--worker-class", "gthread",
                                                                       "--threads", str(threads)]  # fmt: skip
        commands = [[sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{ports[0]}", "--workers",
                     str(processes), *workers, wsgi_application(the_side.code)]]  # fmt: skip
    else:
        sys.exit(f"unknown server {kind!r}: one of {', '.join(SERVER_KINDS)}")
    try:
        for command in commands:
            started.append(
                subprocess.Popen(command, cwd=the_side.code, env=the_side.env, stdout=log, stderr=log)
            )
        servers = Servers(kind, started, ports, log)
        for process, port in zip(started, ports, strict=True):
            _wait_for_healthz(port, process)
        # Every gunicorn worker loads the app itself after the fork, and one still booting would
        # count its start-up in the timed CPU: wait until no process has used CPU for a while.
        _wait_until_idle(servers)
    except BaseException:
        _stack.stop(started)
        log.close()
        raise
    return servers


def _wait_for_healthz(port: int, process: subprocess.Popen) -> None:
    # Longer than _stack's 30 s: on a loaded machine four workers importing Django take a while.
    deadline = time.monotonic() + 180
    while _stack.http_status(port, "/healthz") != 200:
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the server on port {port} did not come up (its log: the side's workdir)")
        time.sleep(0.2)


def _wait_until_idle(servers: Servers, *, quiet: float = 1.0, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    before = {pid: _stack.cpu_seconds(pid) for pid in servers.pids()}
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = {pid: _stack.cpu_seconds(pid) for pid in servers.pids()}
        if now == before:
            return
        before = now


# --- Load ----------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float]
    statuses: dict[int, int]
    problems: dict[str, int]
    elapsed: float
    client_cpu: float


def load(
    ports: list[int],
    requests: Callable[[int], Request],
    check: Check,
    *,
    n: int,
    concurrency: int,
    headers: dict[str, str],
    clients: int,
) -> Load:
    """n requests (`requests(i)` says which) from `concurrency` threads spread over `clients`
    processes, each thread with its own keep-alive connection (reopened when the server closes
    it, as gunicorn's sync workers do after every answer), threads spread over the ports.

    Processes, not only threads: one GIL-bound client on a loaded 2-core machine was the
    bottleneck (it had to open a connection per request to the sync workers), and the
    servers' requests/s measured its CPU share rather than theirs."""
    context = multiprocessing.get_context("fork")  # the children inherit `requests` and `check`
    next_index = context.Value("q", 0)
    go = context.Event()
    answers = context.Queue()
    clients = max(1, min(clients, concurrency))
    children = [
        context.Process(
            target=_client,
            args=(
                ports,
                requests,
                check,
                headers,
                n,
                next_index,
                go,
                answers,
                range(k, concurrency, clients),
            ),  # fmt: skip
            daemon=True,  # Ctrl-C ends the bench (and its cleanup runs) without waiting for them
        )
        for k in range(clients)
    ]
    for child in children:
        child.start()
    started = time.perf_counter()
    go.set()
    result = Load([], {}, {}, 0.0, 0.0)
    for _ in children:
        part = answers.get()
        result.latencies.extend(part["latencies"])
        for code, count in part["statuses"].items():
            result.statuses[code] = result.statuses.get(code, 0) + count
        for problem, count in part["problems"].items():
            result.problems[problem] = result.problems.get(problem, 0) + count
        result.client_cpu += part["cpu"]
    result.elapsed = time.perf_counter() - started
    for child in children:
        child.join()
    return result


def _client(ports, requests, check, headers, n, next_index, go, answers, numbers: range) -> None:
    """One client process: a thread per connection number, taking request indexes from the
    shared counter until n are taken; puts its latencies, statuses, problems and CPU time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    problems: dict[str, int] = {}
    lock = threading.Lock()

    def take() -> int | None:
        with next_index.get_lock():
            if next_index.value >= n:
                return None
            next_index.value += 1
            return next_index.value - 1

    def worker(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", ports[number % len(ports)], timeout=60)
        mine: list[float] = []
        codes: dict[int, int] = {}
        wrong: dict[str, int] = {}
        while (i := take()) is not None:
            method, path, body = requests(i)
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers if body is not None else {})
            response = connection.getresponse()
            answer = response.read()
            mine.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
            problem = check(response.status, answer)
            if problem:
                wrong[problem] = wrong.get(problem, 0) + 1
        connection.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count
            for problem, count in wrong.items():
                problems[problem] = problems.get(problem, 0) + count

    go.wait()
    cpu_before = sum(os.times()[:2])
    threads = [threading.Thread(target=worker, args=(number,), daemon=True) for number in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers.put({"latencies": latencies, "statuses": statuses, "problems": problems,
                 "cpu": sum(os.times()[:2]) - cpu_before})  # fmt: skip


def healthz_ok(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"healthz answered {status}"


def measure(the_side: Side, kind: str, plan: Plan, *, args, processes: int, run_numbers: Iterator[int]):
    """Start `kind` servers for the side once; for each request of the plan warm up (from
    index n on, so the warm-up never uses what the timed requests will), time n requests
    with the servers' CPU read before and after; stop the servers. Yields a Result each."""
    headers = {"Authorization": f"Bearer {the_side.key}", "Content-Type": "application/json"}
    label = kind if kind == "daphne" else f"gunicorn {kind}"
    if kind == "gthread":
        label += f" ×{args.threads} threads"
    servers = start_servers(the_side, kind, processes, threads=args.threads)
    try:
        for name, make_requests, check in plan:
            requests = make_requests(next(run_numbers))
            warmup = functools.partial(_shifted, requests, args.n)
            options = {"concurrency": args.concurrency, "headers": headers, "clients": args.clients}
            load(servers.ports, warmup, check, n=args.warmup, **options)
            server_before, postgres_before = servers.cpu_seconds(), _postgres_cpu(the_side)
            timed = load(servers.ports, requests, check, n=args.n, **options)
            server_cpu = servers.cpu_seconds() - server_before
            postgres_cpu = _postgres_cpu(the_side) - postgres_before
            yield Result(the_side.label, f"{label} ×{processes}", name, timed.latencies, timed.statuses,
                         timed.problems, timed.elapsed, server_cpu, postgres_cpu,
                         timed.client_cpu)  # fmt: skip
    finally:
        servers.stop()


def _shifted(requests: Callable[[int], Request], by: int, i: int) -> Request:
    return requests(by + i)


def floor(the_side: Side, *, args) -> Result:
    """GET /healthz under gunicorn sync workers of the side's code: the unit of every ratio."""
    plan = [("floor: GET /healthz", lambda run: lambda i: ("GET", "/healthz", None), healthz_ok)]
    return next(iter(measure(the_side, "sync", plan, args=args, processes=args.workers,
                             run_numbers=itertools.count())))  # fmt: skip


def _postgres_cpu(the_side: Side) -> float:
    return _stack.postgres_cpu_seconds() if the_side.admin_url else 0.0


def processes_of(kind: str, args) -> int:
    """daphne processes (--processes), or gunicorn workers (--workers)."""
    if kind != "daphne":
        return args.workers
    if args.processes is not None:
        return args.processes
    return 2 if os.environ.get("DATABASE_URL") else 1


def sides(args) -> list[tuple[str, Path]]:
    """(label, checkout) of each side, the one compared against first."""
    if args.compare is None:
        return [(_label(args.code), args.code)]
    return [(_label(args.compare), args.compare), (_label(args.code), args.code)]


def _label(code: Path) -> str:
    commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return f"{code.resolve().name}@{commit or '?'}{'+' if dirty else ''}"


# --- Report --------------------------------------------------------------------------------


def report(title: str, results: list[Result], floors: dict[str, Result], *, args) -> bool:
    """Print the run's table; False when any request answered other than expected."""
    vendor = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(
        f"\n{title} · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {vendor} · concurrency "
        f"{args.concurrency} · {os.cpu_count()} CPUs · Python "
        f"{platform.python_version()} · load {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end"
    )
    print()
    print("| code | server | request | n | req/s | p50 ms | p99 ms | max ms | server CPU ms/req | × floor "
          "| PostgreSQL CPU ms/req | client CPU ms/req | statuses |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    valid = True
    for result in [*floors.values(), *results]:
        floor_ms = floors[result.side].cpu_ms
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(result.statuses.items()))
        if result.problems:
            valid = False
            codes += "; " + ", ".join(f"{problem} ×{count}" for problem, count in result.problems.items())
        pg = f"{result.postgres_cpu / result.n * 1000:.2f}" if vendor == "PostgreSQL" else "—"
        print(
            f"| {result.side} | {result.server} | {result.request} | {result.n} | {result.rate:.0f} | "
            f"{result.quantile(50):.1f} | {result.quantile(99):.1f} | {max(result.latencies) * 1000:.0f} | "
            f"{result.cpu_ms:.2f} | {result.cpu_ms / floor_ms:.1f} | {pg} | "
            f"{result.client_cpu / result.n * 1000:.2f} | {codes} |"
        )
    if args.compare is not None:
        _print_ratios(results)
    return valid


def _print_ratios(results: list[Result]) -> None:
    """Each row of the checkout under test against the compared checkout's daphne row for the
    same request (today's production server), the medians of the rounds."""
    baseline_side = results[0].side
    print()
    print(f"Against {baseline_side} under daphne, the same request (medians of the rounds):")
    print()
    print("| code | server | request | req/s × | CPU per request × | p99 × |")
    print("|---|---|---|---:|---:|---:|")
    grouped: dict[tuple[str, str, str], list[Result]] = {}
    for result in results:
        grouped.setdefault((result.side, result.server, result.request), []).append(result)

    def median(rows: list[Result], value: Callable[[Result], float]) -> float:
        return statistics.median(value(row) for row in rows)

    for (side_label, server, request), rows in grouped.items():
        base = next(
            (rows_ for (s, srv, req), rows_ in grouped.items()
             if s == baseline_side and srv.startswith("daphne") and req == request), None,
        )  # fmt: skip
        if base is None or side_label == baseline_side and server.startswith("daphne"):
            continue
        print(
            f"| {side_label} | {server} | {request} | "
            f"{median(rows, lambda r: r.rate) / median(base, lambda r: r.rate):.2f} | "
            f"{median(rows, lambda r: r.cpu_ms) / median(base, lambda r: r.cpu_ms):.2f} | "
            f"{median(rows, lambda r: r.quantile(99)) / median(base, lambda r: r.quantile(99)):.2f} |"
        )


def run(args, database: str, *, conversations: int, plan: Callable[[Side], Plan], title: str) -> None:
    """Every side, every server kind: GET /healthz and every request of `plan(side)`, plus each
    side's floor; with --compare the sides alternate, round after round."""
    # `kill` (SIGTERM) cleans up as Ctrl-C does: servers stopped, databases dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    results: list[Result] = []
    floors: dict[str, Result] = {}
    with contextlib.ExitStack() as stack:
        opened = [
            stack.enter_context(side(label, code, f"{database}_{k}", conversations=conversations))
            for k, (label, code) in enumerate(sides(args))
        ]
        rounds = args.rounds if args.compare is not None else 1
        run_numbers = {the_side.label: itertools.count() for the_side in opened}
        healthz = ("GET /healthz", lambda run: lambda i: ("GET", "/healthz", None), healthz_ok)
        for round_number in range(rounds):
            order = opened if round_number % 2 == 0 else opened[::-1]
            for kind in kinds:
                for the_side in order:
                    for result in measure(the_side, kind, [healthz, *plan(the_side)], args=args,
                                          processes=processes_of(kind, args),
                                          run_numbers=run_numbers[the_side.label]):  # fmt: skip
                        results.append(result)
                        print(f"  {result.side} · {result.server} · {result.request}: {result.rate:.0f}/s, "
                              f"{result.cpu_ms:.2f} ms server CPU", flush=True)  # fmt: skip
        for the_side in opened:
            floors[the_side.label] = floor(the_side, args=args)
        valid = report(title, results, floors, args=args)
    if not valid:
        sys.exit("Some requests did not answer as expected: the figures above are not valid.")


def measurements_per_side(args, requests_in_plan: int) -> int:
    """How many measurements run() makes per side (for seeding rows each uses once)."""
    kinds = [kind for kind in args.servers.split(",") if kind.strip()]
    rounds = args.rounds if args.compare is not None else 1
    return rounds * len(kinds) * (1 + requests_in_plan)
