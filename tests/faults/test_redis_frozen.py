"""Redis frozen (SIGSTOP: connections accepted, nothing answered): each Redis call gives up after
REDIS_TIMEOUT_MS and the breaker skips Redis for the next few seconds, so the create answers 201
within its budget and the console works; the webhooks go out once Redis continues (SIGCONT)."""

import time

import pytest
import redis
from django.core.cache import cache

from escalation_project.redis_client import RedisUnavailable, shared_redis
from escalation_project.settings import CACHES as PRODUCTION_CACHES

pytestmark = pytest.mark.faults


@pytest.mark.slow
def test_with_redis_frozen_the_create_answers_within_its_budget_and_every_webhook_goes_out_after(
    outage, own_redis
):
    figures = outage(break_redis=own_redis.freeze, mend_redis=own_redis.thaw)

    print(f"\nRedis frozen: {figures}")  # the figures in bench/README.md (Faults)


def test_one_timeout_and_redis_is_skipped_until_its_retry_time_then_used_again(own_redis, settings):
    settings.REDIS_URL = own_redis.url
    settings.CACHES = {"default": {**PRODUCTION_CACHES["default"], "LOCATION": own_redis.url}}
    settings.REDIS_TIMEOUT_MS, settings.REDIS_RETRY_SECONDS = 300, 1
    client = shared_redis()  # made for this URL, with this timeout
    client.set("k", "v")
    own_redis.freeze()

    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.get("k")
    timed_out = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(RedisUnavailable):
        client.get("k")
    skipped = time.monotonic() - started
    assert cache.get("counts", "a miss") == "a miss"  # the cache fails open, at once too

    assert 0.3 <= timed_out < 2
    assert skipped < 0.05
    own_redis.thaw()
    deadline = time.monotonic() + 10
    while True:  # tried again once the retry time has passed
        try:
            assert client.get("k") == b"v"
            break
        except RedisUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.1)
