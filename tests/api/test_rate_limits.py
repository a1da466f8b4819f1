"""Rate limits: a sliding window per credential in the real Redis, exact under concurrency."""

import threading
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIRequestFactory

from escalation_project.api.throttling import CredentialRateThrottle, retry_after
from escalation_project.env import env_rate
from escalation_project.settings import API_THROTTLE_DEFAULT_RATES as DEFAULT_RATES
from tests.api.conftest import agent_client

URL = "/api/v1/escalations/"


def _request(key_pk: int):
    request = APIRequestFactory().get(URL)
    request.auth = mock.Mock(spec=["pk"], pk=key_pk)
    request.user = mock.Mock(is_authenticated=True, pk=None)
    return request


@pytest.fixture
def as_agent_key():
    # isinstance(request.auth, AgentApiKey) without a database row.
    with mock.patch("escalation_project.api.throttling.AgentApiKey", mock.Mock):
        yield


def test_concurrent_requests_never_exceed_the_budget(settings, as_agent_key):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": "25/hour"}
    allowed: list[bool] = []
    barrier = threading.Barrier(16)

    def caller() -> None:
        barrier.wait()
        for _ in range(5):
            allowed.append(CredentialRateThrottle().allow_request(_request(7), None))

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 25
    assert allowed.count(False) == 80 - 25


def test_a_refused_request_does_not_spend_the_budget(settings, as_agent_key):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": "3/hour"}
    start = (int(1_900_000_000 / 3600) + 1) * 3600  # the start of a window
    with mock.patch("escalation_project.api.throttling.time.time", return_value=start + 10):
        results = [CredentialRateThrottle().allow_request(_request(8), None) for _ in range(10)]
    assert results == [True] * 3 + [False] * 7
    # Half-way through the next window the previous one weighs 3 * 0.5 = 1.5 (it would
    # weigh 5 had the seven refusals counted): one more request fits, not two.
    with mock.patch("escalation_project.api.throttling.time.time", return_value=start + 5400):
        results = [CredentialRateThrottle().allow_request(_request(8), None) for _ in range(2)]
    assert results == [True, False]


def test_the_previous_window_still_counts_for_the_part_that_overlaps(settings, as_agent_key):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": "10/minute"}
    start = (int(1_900_000_000 / 60) + 1) * 60  # the start of a window
    with mock.patch("escalation_project.api.throttling.time.time", return_value=start + 50):
        assert all(CredentialRateThrottle().allow_request(_request(9), None) for _ in range(10))
    # 15 s into the next window, 3/4 of the previous one still overlaps: 10 * 0.75 = 7.5 counted,
    # so two more fit (9.5), the third would make 10.5.
    with mock.patch("escalation_project.api.throttling.time.time", return_value=start + 75):
        results = [CredentialRateThrottle().allow_request(_request(9), None) for _ in range(3)]
    assert results == [True, True, False]


def test_retry_after_is_when_one_more_request_fits():
    # The current window alone is full: the rest of it, then until its weight lets one in.
    assert retry_after(limit=10, duration=60, previous=0, current=10, elapsed=0.5) == pytest.approx(30 + 6)
    # Otherwise until enough of the previous window has slid out: previous * (1 - f) <= limit - current - 1.
    assert retry_after(limit=10, duration=60, previous=10, current=0, elapsed=0.0) == pytest.approx(6)
    assert retry_after(limit=10, duration=60, previous=10, current=5, elapsed=0.25) == pytest.approx(21)


def test_the_429_says_how_long_to_wait(ours, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": "2/hour"}
    client = agent_client(ours.agent_key)
    assert [client.get(URL).status_code for _ in range(2)] == [200, 200]
    refused = client.get(URL)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 7200


def test_an_unreachable_redis_lets_requests_through(ours, settings, caplog):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": "1/hour"}
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    client = agent_client(ours.agent_key)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    assert "Rate limit not checked" in caplog.text


@pytest.mark.parametrize("raw", ["lots", "10/fortnight", "0/minute", "-1/second", "ten/minute"])
def test_a_bad_rate_stops_start_up_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("API_RATE_USER", raw)
    with pytest.raises(ImproperlyConfigured, match="API_RATE_USER"):
        env_rate("API_RATE_USER", "600/minute")


def test_an_empty_rate_means_no_limit(monkeypatch):
    monkeypatch.setenv("API_RATE_USER", "")
    assert env_rate("API_RATE_USER", "600/minute") == ""
    monkeypatch.setenv("API_RATE_USER", " 5/hour ")
    assert env_rate("API_RATE_USER", "600/minute") == "5/hour"


def test_the_default_lets_one_busy_bot_post_fifty_messages_a_second(settings, as_agent_key):
    # The shipped default, whatever the environment running the tests sets.
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": DEFAULT_RATES["agent_key"]}
    start = (int(1_900_000_000 / 60) + 1) * 60  # the start of a window
    refused = 0
    # A whole window at 50 requests a second, then 5 s of the next, where the sliding count
    # (the full previous window, weighted, plus the current one) stays at its peak of 3,000.
    for tick in range(65 * 50):
        with mock.patch("escalation_project.api.throttling.time.time", return_value=start + tick / 50):
            refused += not CredentialRateThrottle().allow_request(_request(10), None)
    assert refused == 0
