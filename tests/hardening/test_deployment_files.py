"""Procfile and compose.yaml describe the same processes, and what they run exists."""

import importlib
import re
import shlex
from pathlib import Path

import yaml
from django.conf import settings

from escalation_project.management.commands.runstack import Command as RunStack

ROOT = Path(__file__).resolve().parent.parent.parent
# Procfile process -> compose service.
SAME_PROCESS = {
    "release": "migrate",
    "web": "web",
    "worker": "worker",
    "webhooks": "webhooks",
    "beat": "beat",
}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_every_procfile_process_with_the_same_command():
    services = compose()["services"]

    assert set(procfile()) == set(SAME_PROCESS)
    assert set(services) == {"postgres", "redis", *SAME_PROCESS.values()}
    for process, command in procfile().items():
        assert services[SAME_PROCESS[process]]["command"] == command, process


def test_the_app_waits_for_a_successful_migration_and_healthy_engines():
    services = compose()["services"]

    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("web", "worker", "webhooks", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("postgres", "redis", "web", "worker", "webhooks", "beat"):
        assert services[name]["healthcheck"]["test"], name


def test_the_app_gets_the_production_settings_the_deploy_check_passes_with():
    from tests.hardening.test_deploy_check import PRODUCTION_ENV

    environment = compose()["services"]["web"]["environment"]

    assert set(PRODUCTION_ENV) <= set(environment)
    assert environment["HTTPS"] == "true"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_what_the_processes_start_exists_and_matches_make_run():
    """The ASGI application and the Celery app the commands name import; `make run` starts the same."""
    commands = procfile()
    web, worker, webhooks, beat = (
        shlex.split(commands[name]) for name in ("web", "worker", "webhooks", "beat")
    )
    module, attribute = web[-1].split(":")
    assert getattr(importlib.import_module(module), attribute) is not None
    for argv in (worker, webhooks, beat):
        assert argv[:3] == ["celery", "-A", "escalation_project"]
        assert importlib.import_module(argv[2]).celery_app.main == "escalation_project"
    # The webhooks worker takes the webhooks queue alone; the other worker every queue but it.
    webhooks_queue = "${CELERY_QUEUE:-celery}-webhooks"
    assert webhooks[webhooks.index("-Q") + 1] == worker[worker.index("-X") + 1] == webhooks_queue
    assert settings.CELERY_WEBHOOKS_QUEUE == f"{settings.CELERY_TASK_DEFAULT_QUEUE}-webhooks"

    runstack = (ROOT / "escalation_project/management/commands/runstack.py").read_text()
    assert RunStack.help  # the command that `make run` calls is the one read here
    assert f'"{web[-1]}"' in runstack
    assert re.search(r'"celery", "-A", "escalation_project", "worker"', runstack)
    assert re.search(r'"celery", "-A", "escalation_project", "beat"', runstack)


def test_every_variable_compose_sets_is_in_the_production_docs():
    production = (ROOT / "docs/operations/deployment.md").read_text()

    for name in compose()["services"]["web"]["environment"]:
        assert f"`{name}`" in production, name
