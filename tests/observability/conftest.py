"""Observability fixtures: this test's own metric keys, /metrics read and parsed, log lines as JSON."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import uuid

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from escalation_project.logs import logging_config
from escalation_project.request_id import RequestIdFilter


@pytest.fixture(autouse=True)
def own_metric_keys(settings):
    """Counters start at zero in each test: the test Redis is shared by tests and by runs."""
    settings.METRICS_KEY_PREFIX = f"test-{uuid.uuid4().hex}:metrics"
    settings.HEARTBEAT_KEY_PREFIX = f"test-{uuid.uuid4().hex}:heartbeat"
    settings.PRESENCE_KEY_PREFIX = f"test-{uuid.uuid4().hex}:presence"


def scrape(client: Client | None = None, **headers) -> dict[tuple[str, tuple], float]:
    """GET /metrics, parsed by prometheus_client: {(sample name, sorted labels): value}."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def configured_formatter(log_format: str) -> logging.Formatter:
    """The formatter settings.LOGGING builds for log_format, built by dictConfig's own code."""
    config = logging_config(log_format=log_format, level="INFO")
    return logging.config.DictConfigurator(config).configure_formatter(config["formatters"][log_format])


@pytest.fixture
def json_log():
    """The root logger also writes to a buffer through the JSON handler of settings.LOGGING;
    the fixture returns a function giving the lines written so far, each parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured_formatter("json"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
