"""Settings come from the environment; a bad value stops start-up with a message naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from escalation_project.env import env_bool, env_int, env_list, env_str, redis_port_for, secret_key

ROOT = Path(__file__).resolve().parent.parent


def test_booleans_accept_the_usual_words(monkeypatch):
    for word, value in [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)]:
        monkeypatch.setenv("FLAG", word)
        assert env_bool("FLAG", not value) is value


def test_a_bad_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")

    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False)


def test_integers_are_checked_for_form_and_range(monkeypatch):
    monkeypatch.setenv("PORT_X", "eighty")
    with pytest.raises(ImproperlyConfigured, match="PORT_X='eighty' is not a whole number"):
        env_int("PORT_X", 1)
    monkeypatch.setenv("PORT_X", "70000")
    with pytest.raises(ImproperlyConfigured, match="above the maximum of 65535"):
        env_int("PORT_X", 1, maximum=65535)
    monkeypatch.setenv("PORT_X", "8080")
    assert env_int("PORT_X", 1, maximum=65535) == 8080


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example ,")

    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_a_file_variable_reads_a_docker_secret(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("from-a-file\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "key"))

    assert env_str("SECRET_KEY") == "from-a-file"


def test_the_secret_key_is_generated_once_into_var(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)

    first = secret_key(tmp_path)
    second = secret_key(tmp_path)

    assert first == second
    assert len(first) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def check_with(**env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="escalation_project.settings", **env_changes)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "only PostgreSQL (postgres://) and SQLite"),
        ({"REDIS_URL": "localhost:6379"}, "must start with redis://"),
        ({"EMBEDDED_REDIS_PORT": "0"}, "EMBEDDED_REDIS_PORT=0 is below the minimum of 1"),
    ],
)
def test_the_process_refuses_to_start_on_a_bad_value(tmp_path, env, message):
    result = check_with(VAR_DIR=str(tmp_path), **env)

    assert result.returncode != 0
    assert message in result.stderr


def test_the_defaults_pass_the_system_checks(tmp_path):
    result = check_with(VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr


def test_the_embedded_redis_port_follows_the_web_port():
    assert redis_port_for(8000) == 6390  # the port of every earlier `make run`
    assert redis_port_for(8124) == 6514
    ports = [redis_port_for(web_port) for web_port in range(1024, 65536)]
    # Two checkouts on two web ports never reach for the same Redis port, and none is privileged.
    assert len(set(ports)) == len(ports)
    assert min(ports) >= 1024 and max(ports) <= 65535
    assert 1024 <= redis_port_for(80) <= 65535


def redis_url_with(tmp_path, **env_changes) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "EMBEDDED_REDIS_PORT", "PORT")
    }
    env.update(DJANGO_SETTINGS_MODULE="escalation_project.settings", VAR_DIR=str(tmp_path), **env_changes)
    code = "from django.conf import settings; print(settings.REDIS_URL, settings.EMBEDDED_REDIS_PORT_SET)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")[-2]


def test_settings_derive_the_redis_url_from_port_unless_the_redis_port_is_given(tmp_path):
    assert redis_url_with(tmp_path) == "redis://127.0.0.1:6390/0 False"
    assert redis_url_with(tmp_path, PORT="8124") == "redis://127.0.0.1:6514/0 False"
    given = redis_url_with(tmp_path, PORT="8124", EMBEDDED_REDIS_PORT="7001")
    assert given == "redis://127.0.0.1:7001/0 True"
