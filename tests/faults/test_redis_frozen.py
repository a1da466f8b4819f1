"""Redis frozen (SIGSTOP: connections accepted, nothing answered): each Redis call gives up after
REDIS_TIMEOUT_MS and the breaker skips Redis for the next few seconds, so the create answers 201
within its budget and the console works; the webhooks go out once Redis continues (SIGCONT)."""

import pytest
import redis
from django.core.cache import cache

from escalation_project.redis_client import RedisUnavailable, shared_redis
from escalation_project.settings import CACHES as PRODUCTION_CACHES
from tests.waiting import wait_until

pytestmark = pytest.mark.faults


@pytest.mark.slow
def test_with_redis_frozen_the_create_answers_within_its_budget_and_every_webhook_goes_out_after(
    outage, own_redis
):
    figures = outage(break_redis=own_redis.freeze, mend_redis=own_redis.thaw)

    print(f"\nRedis frozen: {figures}")  # the figures in bench/README.md (the fault suite)


def test_one_timeout_and_redis_is_skipped_until_its_retry_time_then_used_again(own_redis, settings):
    settings.REDIS_URL = own_redis.url
    settings.CACHES = {"default": {**PRODUCTION_CACHES["default"], "LOCATION": own_redis.url}}
    settings.REDIS_TIMEOUT_MS, settings.REDIS_RETRY_SECONDS = 300, 1
    client = shared_redis()  # made for this URL, with this timeout
    client.set("k", "v")
    own_redis.freeze()

    with pytest.raises(redis.TimeoutError):
        client.get("k")  # tried, and given up on after REDIS_TIMEOUT_MS
    with pytest.raises(RedisUnavailable):
        client.get("k")  # not tried: the breaker skips Redis until its retry time
    assert cache.get("counts", "a miss") == "a miss"  # the cache fails open, at once too

    own_redis.thaw()

    def answers() -> bool:
        try:
            return client.get("k") == b"v"
        except RedisUnavailable:
            return False  # still within the retry time

    wait_until(answers, timeout=10, interval=0.1, message="Redis used again after its retry time")
