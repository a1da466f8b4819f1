"""Procfile and compose.yaml describe the same processes, what they run exists, and the proxy
sends every request to the server that can hold it (deploy/nginx.conf)."""

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from escalation_project.management.commands.runstack import Command as RunStack
from supervisors.routing import CONSOLE_SOCKET_PATH

ROOT = Path(__file__).resolve().parent.parent.parent
# Procfile process -> compose service.
SAME_PROCESS = {
    "release": "migrate",
    "web": "web",
    "realtime": "realtime",
    "worker": "worker",
    "webhooks": "webhooks",
    "beat": "beat",
}


# compose fixes the ports the proxy's upstreams name; a Procfile platform picks them.
PINNED_PORTS = {"${PORT:-8000}": "8000", "${REALTIME_PORT:-8001}": "8001"}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_every_procfile_process_with_the_same_command():
    services = compose()["services"]

    assert set(procfile()) == set(SAME_PROCESS)
    assert set(services) == {"postgres", "redis", "proxy", *SAME_PROCESS.values()}
    for process, command in procfile().items():
        for variable, port in PINNED_PORTS.items():
            command = command.replace(variable, port)
        assert services[SAME_PROCESS[process]]["command"] == command, process


def test_the_app_waits_for_a_successful_migration_and_healthy_engines():
    services = compose()["services"]

    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("web", "realtime", "worker", "webhooks", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("postgres", "redis", "proxy", "web", "realtime", "worker", "webhooks", "beat"):
        assert services[name]["healthcheck"]["test"], name
    # Only the proxy is published: a request that reached web or realtime directly would skip
    # the routing (and web trusts X-Forwarded-For from any peer).
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    assert services["proxy"]["depends_on"] == {
        "web": {"condition": "service_healthy"},
        "realtime": {"condition": "service_healthy"},
    }


def test_the_app_gets_the_production_settings_the_deploy_check_passes_with():
    from tests.hardening.test_deploy_check import PRODUCTION_ENV

    services = compose()["services"]
    environment = services["web"]["environment"]

    assert services["realtime"]["environment"] == services["worker"]["environment"]
    assert environment == {**services["realtime"]["environment"], "FORWARDED_ALLOW_IPS": "*"}
    assert set(PRODUCTION_ENV) <= set(environment)
    assert environment["HTTPS"] == "true"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_what_the_processes_start_exists_and_matches_make_run():
    """The WSGI and ASGI applications and the Celery app the commands name import; `make run`
    starts the same ASGI application (one daphne serves everything there)."""
    commands = procfile()
    web, realtime, worker, webhooks, beat = (
        shlex.split(commands[name]) for name in ("web", "realtime", "worker", "webhooks", "beat")
    )
    assert web[0] == "gunicorn" and realtime[0] == "daphne"
    for application in (web[-1], realtime[-1]):
        module, attribute = application.split(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    for argv in (worker, webhooks, beat):
        assert argv[:3] == ["celery", "-A", "escalation_project"]
        assert importlib.import_module(argv[2]).celery_app.main == "escalation_project"
    # The webhooks worker takes the webhooks queue alone; the other worker every queue but it.
    webhooks_queue = "${CELERY_QUEUE:-celery}-webhooks"
    assert webhooks[webhooks.index("-Q") + 1] == worker[worker.index("-X") + 1] == webhooks_queue
    assert settings.CELERY_WEBHOOKS_QUEUE == f"{settings.CELERY_TASK_DEFAULT_QUEUE}-webhooks"

    runstack = (ROOT / "escalation_project/management/commands/runstack.py").read_text()
    assert RunStack.help  # the command that `make run` calls is the one read here
    assert f'"{realtime[-1]}"' in runstack
    assert re.search(r'"celery", "-A", "escalation_project", "worker"', runstack)
    assert re.search(r'"celery", "-A", "escalation_project", "beat"', runstack)


def test_every_variable_compose_sets_is_in_the_production_docs():
    production = (ROOT / "docs/operations/deployment.md").read_text()

    for name in compose()["services"]["web"]["environment"]:
        assert f"`{name}`" in production, name


# --- The proxy's routing -------------------------------------------------------------------


def proxy_config() -> str:
    return (ROOT / "deploy/nginx.conf").read_text()


def locations() -> list[tuple[str, str, str]]:
    """(modifier, pattern, body) of each `location` block, in order (none nests a block)."""
    return re.findall(r"location\s+(=|\^~|~\*|~)?\s*(\S+)\s*\{(.*?)\}", proxy_config(), flags=re.S)


def upstream_of(path: str) -> str:
    """The upstream nginx picks for `path`, by its rules: an exact match; else the longest prefix
    if it is `^~`; else the first regex that matches, in order; else the longest prefix."""
    found = locations()
    for modifier, pattern, body in found:
        if modifier == "=" and pattern == path:
            return _proxy_pass(body)
    prefixes = [(pattern, modifier, body) for modifier, pattern, body in found if modifier in ("", "^~")]
    longest = max((p for p in prefixes if path.startswith(p[0])), key=lambda p: len(p[0]), default=None)
    if longest is not None and longest[1] == "^~":
        return _proxy_pass(longest[2])
    for modifier, pattern, body in found:
        if modifier in ("~", "~*") and re.search(pattern, path, flags=re.I if modifier == "~*" else 0):
            return _proxy_pass(body)
    assert longest is not None, f"no location takes {path}"
    return _proxy_pass(longest[2])


def _proxy_pass(body: str) -> str:
    return re.search(r"proxy_pass\s+http://(\w+);", body).group(1)


def location_body(path: str) -> str:
    upstream = upstream_of(path)  # also asserts some location takes it
    for modifier, pattern, body in locations():
        matches = (
            pattern == path
            if modifier == "="
            else re.search(pattern, path)
            if modifier.startswith("~")
            else path.startswith(pattern)
        )
        if matches and _proxy_pass(body) == upstream and pattern != "/":
            return body
    raise AssertionError(f"no location of its own for {path}")


# A sample value for each path converter of the URL conf.
SAMPLES = {
    "int": "7",
    "str": "abc",
    "slug": "abc",
    "path": "a/b",
    "uuid": "5b2c1c5e-8f4e-4b8a-9a57-3d1c2b9e0f11",
}


def url_samples(patterns=None, prefix: str = "/") -> list[tuple[str, bool]]:
    """(a path the pattern matches, whether its view is async) for every path() of the URL conf."""
    samples = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = str(pattern.pattern)
        if route.startswith("^"):  # a re_path (the admin's app index): checked sync, not sampled
            assert isinstance(pattern, URLPattern), f"walk the included re_path {route} too"
            assert not iscoroutinefunction(pattern.callback), f"add a sample for the async {route}"
            continue
        path = prefix + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)
        if isinstance(pattern, URLResolver):
            samples += url_samples(pattern.url_patterns, path)
        else:
            samples.append((path, iscoroutinefunction(pattern.callback)))
    return samples


def test_the_proxy_sends_every_async_view_to_daphne_and_every_sync_one_to_gunicorn():
    """A long-poll on gunicorn would hold a worker's thread for its whole wait; a sync request on
    daphne pays its thread hand-offs (issue 17). The URL conf says which is which."""
    samples = url_samples()
    async_paths = [path for path, is_async in samples if is_async]

    assert "/api/v1/escalations/7/" in async_paths  # the long-poll, found by the walk
    assert len(samples) > 50  # the walk reached the included URL confs
    for path, is_async in samples:
        assert upstream_of(path) == ("realtime" if is_async else "web"), path


def test_the_proxy_sends_websockets_and_mcp_to_daphne():
    for path in (f"/{CONSOLE_SOCKET_PATH}", "/mcp", "/mcp/"):
        assert upstream_of(path) == "realtime", path
    for path in ("/mcpx", "/static/console.css", "/healthz", "/admin/login/", "/api/v1/escalations/"):
        assert upstream_of(path) == "web", path
    socket = location_body(f"/{CONSOLE_SOCKET_PATH}")
    assert "proxy_set_header Upgrade $http_upgrade;" in socket
    assert "proxy_set_header Connection $connection_upgrade;" in socket


def test_the_proxy_waits_longer_than_the_longest_poll_and_streams_it():
    for path in ("/api/v1/escalations/7/", "/mcp", "/mcp/"):
        body = location_body(path)
        timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", body)
        assert timeout and int(timeout.group(1)) > settings.API_LONG_POLL_MAX_SECONDS, path
        assert "proxy_buffering off;" in body, path


@pytest.mark.parametrize("path", ["/", "/ws/console/", "/api/v1/escalations/7/", "/readyz", "/mcp", "/mcp/"])
def test_every_location_passes_the_client_address_host_and_scheme(path):
    """nginx drops the server's proxy_set_header lines in a location that sets any, so each says all."""
    body = location_body(path) if path != "/" else dict((p, b) for _, p, b in locations())["/"]
    for header in ("Host $host", "X-Forwarded-For $client_address", "X-Forwarded-Proto $client_scheme"):
        assert f"proxy_set_header {header};" in body, (path, header)


def test_the_proxy_upstreams_are_the_ports_compose_binds():
    services = compose()["services"]
    upstreams = dict(re.findall(r"upstream\s+(\w+)\s*\{\s*server\s+([\w.-]+:\d+);", proxy_config()))

    assert upstreams == {"web": "web:8000", "realtime": "realtime:8001"}
    assert "--bind 0.0.0.0:8000 " in services["web"]["command"]
    assert " -p 8001 " in services["realtime"]["command"]
    assert services["proxy"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]


def test_gunicorn_keeps_a_connection_open_longer_than_the_proxy_reuses_it():
    """Else gunicorn may close a connection just as nginx sends a POST on it: a 502 for that
    request (nginx retries only idempotent ones)."""
    command = shlex.split(compose()["services"]["web"]["command"])
    proxy_keeps = re.search(r"upstream web \{[^}]*keepalive_timeout (\d+)s;", proxy_config())
    web = dict((p, b) for _, p, b in locations())["/"]

    assert int(command[command.index("--keep-alive") + 1]) > int(proxy_keeps.group(1))
    assert "proxy_http_version 1.1;" in web and 'proxy_set_header Connection "";' in web
