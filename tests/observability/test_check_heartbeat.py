"""`manage.py check_heartbeat beat`: compose's healthcheck for beat, which answers no ping of its own."""

import time

import pytest
from django.core.management import CommandError, call_command

from escalation_project import heartbeats
from escalation_project.redis_client import shared_redis


def test_a_fresh_heartbeat_passes(capsys):
    heartbeats.record("beat")

    call_command("check_heartbeat", "beat")

    assert capsys.readouterr().out.startswith("beat: last heartbeat 0 s ago")


def test_a_stale_heartbeat_fails_and_says_how_old(settings):
    shared_redis().set(f"{settings.HEARTBEAT_KEY_PREFIX}:beat", repr(time.time() - 300))

    with pytest.raises(CommandError, match=r"The beat heartbeat is 300 s old \(more than 60 s\)"):
        call_command("check_heartbeat", "beat")


def test_no_heartbeat_fails():
    heartbeats.record("worker")  # another role's does not count

    with pytest.raises(CommandError, match="No beat heartbeat recorded"):
        call_command("check_heartbeat", "beat")


def test_redis_down_fails_with_a_message(settings, monkeypatch):
    def down():
        raise ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(heartbeats, "shared_redis", down)

    with pytest.raises(CommandError, match="Cannot read the beat heartbeat from Redis"):
        call_command("check_heartbeat", "beat")
