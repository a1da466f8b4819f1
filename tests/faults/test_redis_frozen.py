"""Redis frozen (SIGSTOP: connections accepted, nothing answered): each Redis call gives up after
REDIS_TIMEOUT_MS and the breaker skips Redis for the next few seconds, so the create answers 201
within its budget and the console works; the webhooks go out once Redis continues (SIGCONT)."""

import pytest

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_with_redis_frozen_the_create_answers_within_its_budget_and_every_webhook_goes_out_after(
    outage, own_redis
):
    figures = outage(break_redis=own_redis.freeze, mend_redis=own_redis.thaw)

    print(f"\nRedis frozen: {figures}")  # the figures in bench/README.md (Faults)
