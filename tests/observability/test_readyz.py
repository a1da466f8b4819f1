"""/readyz: ready when the database and Redis both answer; 503 naming what failed."""

from unittest import mock


def test_ready_when_database_and_redis_answer(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_503_names_redis_when_it_is_unreachable(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["redis"].startswith("failed")


def test_503_names_the_database_when_it_fails(client, db):
    with mock.patch("escalation_project.views.connection.cursor", side_effect=OSError("down")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed: OSError"
