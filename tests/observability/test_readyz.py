"""/readyz: each dependency tried for real, naming the ones that are really down; 503 only without the
database (a Redis outage is every daphne's, and the product works on without it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import kombu.utils.functional
from django.conf import settings as django_settings

from escalation_project import heartbeats
from escalation_project.celery import app as celery_app
from escalation_project.embedded_redis import free_port
from escalation_project.redis_client import shared_redis

DEPENDENCIES = ["database", "cache", "channel_layer", "broker"]


def closed_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_ready_when_every_dependency_answers(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == dict.fromkeys(DEPENDENCIES, "ok")
    assert body["failed"] == []


def test_the_cache_down_is_named_and_degrades(client, db, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": closed_redis_url()}
    }

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["failed"] == ["cache"]
    assert response.json()["checks"]["cache"] == "failed: ConnectionError"


def test_the_channel_layer_down_is_named_and_degrades(client, db, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [closed_redis_url()]},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["failed"] == ["channel_layer"]


def test_the_broker_down_is_named_and_degrades(client, db, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", closed_redis_url())
    # kombu's retry loop waits between tries (2 s and more by default); a probe wants an answer now.
    waits: list[float] = []
    monkeypatch.setattr(kombu.utils.functional, "sleep", waits.append)

    response = client.get("/readyz")

    assert sum(waits) == 0, waits  # no back-off between tries
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["failed"] == ["broker"]


def test_heartbeats_are_reported_but_do_not_make_it_unready(client, db, settings):
    heartbeats.record("beat")
    shared_redis().set(f"{settings.HEARTBEAT_KEY_PREFIX}:worker", repr(time.time() - 300))

    response = client.get("/readyz")

    assert response.status_code == 200
    background = response.json()["background"]
    assert background["beat"]["status"] == "ok"
    assert background["beat"]["seconds_ago"] < 5
    assert background["worker"]["status"] == "late"
    assert 299 < background["worker"]["seconds_ago"] < 310


def test_never_seen_heartbeats_say_so(client, db):
    assert client.get("/readyz").json()["background"] == {
        "beat": {"status": "never seen", "seconds_ago": None},
        "worker": {"status": "never seen", "seconds_ago": None},
    }


PROBE = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/readyz")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def readyz_in_a_process(tmp_path, **env: str) -> dict:
    """/readyz of a process started with the production settings and this environment."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=django_settings.BASE_DIR,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DJANGO_SETTINGS_MODULE": "escalation_project.settings",
            "VAR_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "ERROR",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_process_whose_redis_is_down_stays_ready_naming_what_uses_it(tmp_path):
    # Production settings: the cache, the channel layer and the broker are all on REDIS_URL.
    outcome = readyz_in_a_process(
        tmp_path, REDIS_URL=closed_redis_url(), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )

    assert outcome["status"] == 200
    assert outcome["body"]["status"] == "degraded"
    assert outcome["body"]["checks"]["database"] == "ok"
    assert outcome["body"]["failed"] == ["cache", "channel_layer", "broker"]


def test_a_process_whose_database_cannot_be_opened_is_unready(tmp_path):
    outcome = readyz_in_a_process(
        tmp_path, REDIS_URL=django_settings.REDIS_URL, DATABASE_URL="sqlite:////nonexistent/folder/db.sqlite3"
    )

    assert outcome["status"] == 503
    assert outcome["body"]["status"] == "unavailable"
    assert outcome["body"]["failed"] == ["database"]
    assert outcome["body"]["checks"]["database"] == "failed: OperationalError"
