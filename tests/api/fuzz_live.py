"""`st run --checks all` against a real daphne, as an agent key and as a staff token.

    .venv/bin/python -m tests.api.fuzz_live [--max-examples N] [st run options...]

Starts its own Redis (the bundled redis-server) and daphne on free loopback ports, with a scratch
SQLite database in a temporary folder (migrated, then filled by tests/api/fuzz_world.py), and runs
schemathesis twice against /api/schema/: once with the agent's key, once with the team owner's
token. The hooks of tests/api/fuzz_hooks.py put real ids and names where validity depends on
stored rows; schemathesis.toml (read from the working directory: run this from the repository
root) generates no NUL. The request timeout is above the API's longest long-poll (?wait=, at most
API_LONG_POLL_MAX_SECONDS), so a long-poll that waits is not a timeout. Rate limits are off for
the run. Exits non-zero if either run fails; each run's report is printed as schemathesis gives it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from escalation_project import embedded_redis
from tests.live_server import wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
LONGEST_WAIT = 60  # API_LONG_POLL_MAX_SECONDS, set below


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-examples", type=int, default=100)
    options, st_options = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-live-") as folder:
        var = Path(folder)
        redis_port, port = embedded_redis.free_port(), embedded_redis.free_port()
        redis = embedded_redis.start(redis_port, var / "redis")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "escalation_project.settings",
            "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "VAR_DIR": str(var),
            "WEBHOOKS_ALLOW_LOOPBACK": "true",
            "API_LONG_POLL_MAX_SECONDS": str(LONGEST_WAIT),
            "API_RATE_AGENT_KEY": "",
            "API_RATE_USER": "",
            "API_RATE_ANONYMOUS": "",
            "LOG_LEVEL": "WARNING",
        }
        python = sys.executable
        daphne = None
        try:
            subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            world = var / "world.json"
            make = f"from tests.api.fuzz_world import write_world; write_world({str(world)!r})"
            subprocess.run([python, "manage.py", "shell", "-c", make], cwd=ROOT, env=env, check=True)
            credentials = json.loads(world.read_text())
            log = var / "daphne.log"
            with open(log, "w") as out:
                daphne = subprocess.Popen(
                    [python, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port),
                     "escalation_project.asgi:application"],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(f"{base}/healthz", daphne, log, timeout=60)
            # `st` runs outside Django and the repository: the hooks set Django up from env.
            hooks = {
                "SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks",
                "FUZZ_WORLD": str(world),
                "PYTHONPATH": str(ROOT),
            }
            failed = False
            for who, header in [
                ("agent key", f"Bearer {credentials['agent_key']}"),
                ("staff token", f"Token {credentials['user_token']}"),
            ]:
                print(f"\n=== st run --checks all, as the {who} ===", flush=True)
                started = time.monotonic()
                result = subprocess.run(
                    [str(Path(python).with_name("st")), "run", f"{base}/api/schema/", "--checks", "all",
                     "-H", f"Authorization: {header}", "--request-timeout", str(LONGEST_WAIT + 15),
                     "--max-examples", str(options.max_examples), "--generation-deterministic",
                     "--continue-on-failure", *st_options],
                    cwd=ROOT,
                    env={**env, **hooks},
                )  # fmt: skip
                print(f"=== as the {who}: exit {result.returncode} in {time.monotonic() - started:.0f} s ===")
                failed = failed or result.returncode != 0
            return 1 if failed else 0
        finally:
            if daphne is not None:
                embedded_redis.stop(daphne)
            embedded_redis.stop(redis)


if __name__ == "__main__":
    sys.exit(main())
