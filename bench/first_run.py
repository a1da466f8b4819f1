"""A newcomer's first `make run`: seconds from a fresh clone to a console that answers, cold and warm.

Clones the checkout (its committed HEAD) into a temporary folder and runs
`make run` there as a person would, with the embedded defaults (no REDIS_URL,
no DATABASE_URL): cold (no .venv, no var/), then warm (the same clone again).
Each run is timed from `make run` until both /healthz and /console/login/
answer 200, then stopped with SIGINT to make's process group (what Ctrl-C in
a terminal does) and must exit 0. Printed per run: the wall time, when the
install ended (make's echo of the runstack command), runstack's own line of
where its start went (redis, migrate, static files, demo data, processes),
and the CPU seconds (user + sys) of everything make ran, which a loaded
machine does not inflate the way it does wall time. The load average is
printed before and after.

The goals (issue 19, item 15): cold <= 90 s with a warm pip cache, warm <= 10 s.
--cold-uv-cache gives uv an empty cache, as on a machine that never ran it.

    .venv/bin/python bench/first_run.py [--port 8124] [--cold-uv-cache] [--compare REV] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 600
RUNSTACK_ECHO = "manage.py runstack"
SUMMARY = re.compile(r"Answering .*")


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(clone: Path, env: dict[str, str], port: int, label: str) -> dict[str, object]:
    cpu_before = cpu_seconds()
    started = time.monotonic()
    lines: list[tuple[float, str]] = []
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    ready_at = None
    try:
        while time.monotonic() - started < TIMEOUT_SECONDS:
            if process.poll() is not None:
                break
            if status(f"{base}/healthz") == 200 and status(f"{base}/console/login/") == 200:
                ready_at = time.monotonic() - started
                break
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
        reader.join(timeout=5)
    output = "\n".join(text for _, text in lines)
    if ready_at is None:
        sys.exit(f"{label}: the console never answered (make exited {code}):\n{output[-5000:]}")
    # make itself dies of the SIGINT once its recipe ends (where SIGINT is not ignored, as in a
    # terminal); runstack must have stopped cleanly all the same.
    if code not in (0, -signal.SIGINT) or not output.rstrip().endswith("Stopped."):
        sys.exit(f"{label}: make run exited {code} after SIGINT:\n{output[-5000:]}")
    installed_at = next((at for at, text in lines if RUNSTACK_ECHO in text and "|" not in text), None)
    summary = next((m.group(0) for _, text in lines if (m := SUMMARY.search(text))), "")
    return {
        "label": label,
        "ready": ready_at,
        "installed": installed_at,
        "summary": summary,
        "cpu": cpu_seconds() - cpu_before,
    }


def clone_at(workdir: Path, name: str, revision: str | None) -> Path:
    clone = workdir / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    if revision:
        subprocess.run(["git", "checkout", "--quiet", revision], cwd=clone, check=True)
    return clone


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument("--cold-uv-cache", action="store_true", help="give uv an empty cache")
    parser.add_argument(
        "--compare", metavar="REVISION", help="also time this revision, alternating runs, under the same load"
    )
    parser.add_argument("--keep", action="store_true", help="keep the clones (printed) afterwards")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="first-run-"))
    env = {
        key: value
        for key, value in os.environ.items()
        # A newcomer's shell: the embedded defaults, no virtualenv of ours active.
        if key not in {"REDIS_URL", "DATABASE_URL", "EMBEDDED_REDIS_PORT", "VIRTUAL_ENV", "VAR_DIR"}
    }
    env["PORT"] = str(args.port)
    if args.cold_uv_cache:
        env["UV_CACHE_DIR"] = str(workdir / "uv-cache")
    clones = {"HEAD": (clone_at(workdir, "head", None), env)}
    if args.compare:
        # An older checkout's Redis port is fixed (6390): give it a free one.
        clones[args.compare] = (
            clone_at(workdir, "compare", args.compare),
            {**env, "EMBEDDED_REDIS_PORT": str(free_port())},
        )
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}")
    for name, (clone, _) in clones.items():
        head = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=clone, text=True).strip()
        print(f"{name}: {clone} (commit {head})")
    results = []
    try:
        for phase in ("cold", "warm"):
            for name, (clone, run_env) in reversed(clones.items()):
                results.append(one_run(clone, run_env, args.port, f"{name} {phase}"))
                print(f"  ... {name} {phase} done, load {Path('/proc/loadavg').read_text().split()[0]}")
    finally:
        print(f"load after:  {Path('/proc/loadavg').read_text().strip()}")
        for result in results:
            installed = result["installed"]
            install = f"{installed:.1f} s" if installed is not None else "?"
            print(
                f"{result['label']:<14} console answered after {result['ready']:.1f} s wall "
                f"(install done at {install}; CPU {result['cpu']:.1f} s)"
            )
            if result["summary"]:
                print(f"      runstack: {result['summary']}")
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
