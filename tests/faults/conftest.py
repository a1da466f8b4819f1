"""Fixtures of the fault suite: a Redis of the test's own, and a team whose agent escalates over
the API, whose supervisor answers in the console, and whose webhooks reach a local receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from agents.keys import agent_key_create
from escalation_project.embedded_redis import free_port
from escalation_project.redis_client import reset_breaker
from escalation_project.settings import CACHES as PRODUCTION_CACHES
from supervisors.models import Role
from tests import factories
from tests.faults.stack import OutageFigures, OwnRedis, Receiver, celery_worker, run_outage, worker_log
from tests.live_server import running_daphne
from webhooks import services
from webhooks.models import Endpoint

# The processes a fault test starts read the production cache (Redis), not the test run's.
FAULT_SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.faults.settings"}


@pytest.fixture(autouse=True)
def closed_breaker() -> Iterator[None]:
    """A timeout seen by one test must not make the next one skip Redis (the breaker is per process)."""
    reset_breaker()
    yield
    reset_breaker()


@pytest.fixture
def redis_refusing(settings) -> None:
    """In this process: the production cache and the shared client, at a port nothing listens on."""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {"default": {**PRODUCTION_CACHES["default"], "LOCATION": settings.REDIS_URL}}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path / "redis")
    redis.start()
    yield redis
    redis.stop()


class Scene(NamedTuple):
    endpoint: Endpoint
    agent_headers: dict[str, str]
    supervisor: str  # username; the password is factories' "pw"


@pytest.fixture
def scene(transactional_db, httpserver, settings) -> Scene:
    """Billing: an agent with a key, supervisor ana, and an endpoint at the local receiver."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    _, key = agent_key_create(agent=agent, name="faults")
    factories.add_member(factories.make_user("ana"), team, Role.SUPERVISOR)
    endpoint = services.endpoint_create(team=team, url=httpserver.url_for("/hook"))
    return Scene(endpoint, {"Authorization": f"Bearer {key}"}, "ana")


# Within this a create must answer, whatever Redis does (issue 14).
CREATE_BUDGET_SECONDS = 2.0


@pytest.fixture
def outage(scene, own_redis, httpserver, tmp_path) -> Callable[..., OutageFigures]:
    """Runs run_outage on a stack of the test's own: daphne and a Celery worker with beat, on own_redis."""

    def run(*, break_redis: Callable[[], None], mend_redis: Callable[[], None]) -> OutageFigures:
        receiver = Receiver(scene.endpoint.secret)
        httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver.handle)
        var_dir = tmp_path / "var"
        with (
            running_daphne(tmp_path, redis_url=own_redis.url, **FAULT_SETTINGS) as base,
            celery_worker(var_dir, own_redis.url, send_lease_seconds=60, **FAULT_SETTINGS),
        ):
            return run_outage(
                base=base,
                scene=scene,
                receiver=receiver,
                break_redis=break_redis,
                mend_redis=mend_redis,
                create_budget_seconds=CREATE_BUDGET_SECONDS,
                log=lambda: worker_log(var_dir) + (tmp_path / "daphne.log").read_text()[-5000:],
            )

    return run
