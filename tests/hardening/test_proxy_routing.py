"""deploy/nginx.conf run by a real nginx in front of a real gunicorn (`web`) and daphne
(`realtime`): each request reaches the process the routing table of the production docs names.

Needs an nginx binary on PATH (Debian's `nginx` package; the test runs it as a plain
process on loopback ports, with the upstreams' names replaced by those ports); skipped
without one. test_deployment_files.py checks the same routing against the URL conf
without nginx.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from escalation_project.embedded_redis import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
NGINX = shutil.which("nginx") or (
    shutil.which("nginx", path="/usr/sbin") if Path("/usr/sbin").exists() else None
)

pytestmark = pytest.mark.skipif(NGINX is None, reason="no nginx binary on PATH")


def status_of(port: int, path: str, headers: dict[str, str] | None = None) -> int | None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    except OSError:
        return None


@pytest.fixture
def stack(tmp_path):
    """nginx on a free port in front of gunicorn and daphne; yields (proxy port, logs)."""
    web_port, realtime_port, proxy_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "escalation_project.settings",
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
    }
    env.pop("DATABASE_URL", None)  # SQLite in the temporary VAR_DIR: nothing here needs a table
    logs = {"web": tmp_path / "web.log", "realtime": tmp_path / "realtime.log"}
    commands = {
        "web": [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{web_port}", "--worker-class",
                "gthread", "--workers", "1", "--threads", "2", "escalation_project.wsgi:application"],
        "realtime": [sys.executable, "-m", "daphne", "--proxy-headers", "-b", "127.0.0.1", "-p",
                     str(realtime_port), "escalation_project.asgi:application"],
    }  # fmt: skip
    site = (ROOT / "deploy/nginx.conf").read_text()
    site = site.replace("server web:8000;", f"server 127.0.0.1:{web_port};")
    site = site.replace("server realtime:8001;", f"server 127.0.0.1:{realtime_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{proxy_port};")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {tmp_path}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )  # fmt: skip
        + f"  include {tmp_path}/site.conf;\n}}\n"
    )
    processes = []
    try:
        for name, command in commands.items():
            with open(logs[name], "wb") as log:
                processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log))
        processes.append(
            subprocess.Popen(
                [NGINX, "-g", "daemon off;", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
            )
        )
        for port in (web_port, realtime_port, proxy_port):
            wait_until(
                lambda port=port: status_of(port, "/healthz") == 200, message=f"nothing answers on {port}"
            )
        yield proxy_port, logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def served_by(logs: dict[str, Path], path: str) -> list[str]:
    """Which processes logged an access line for `path` (the app's own line, request_id.py)."""
    line = re.compile(rf"escalation_project\.access .* GET {re.escape(path)} \d{{3}}")
    return [name for name, log in logs.items() if line.search(log.read_text())]


def test_each_path_reaches_the_process_the_docs_name(stack):
    proxy_port, logs = stack
    expected = {
        "/api/v1/escalations/": "web",
        "/console/": "web",
        "/admin/login/": "web",
        "/metrics": "web",
        "/api/v1/escalations/7/": "realtime",  # the long-poll
        "/readyz": "realtime",
        "/mcp": "realtime",
        "/mcp/": "realtime",
    }
    for path in expected:
        assert status_of(proxy_port, path) is not None, path
    for path, process in expected.items():
        wait_until(lambda path=path: served_by(logs, path), message=f"no process logged {path}")
        assert served_by(logs, path) == [process], path


def test_the_console_socket_upgrades_through_the_proxy(stack):
    proxy_port, logs = stack
    connection = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=5)
    connection.request(
        "GET",
        "/ws/console/",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": f"http://127.0.0.1:{proxy_port}",
        },
    )
    # 101: daphne accepted the upgrade the proxy passed on (the consumer then closes an
    # anonymous socket, which is its business, not the proxy's).
    assert connection.getresponse().status == 101
    wait_until(
        lambda: "WSCONNECT /ws/console/" in logs["realtime"].read_text(), message="no socket on daphne"
    )
