"""Prometheus metrics at /metrics: the same figures whichever process is scraped.

daphne runs as several processes and the Celery workers elsewhere, each with
its own memory, so nothing here is counted in a process's memory
(prometheus_client's own Counter) nor in its multiprocess files (one host
only, and the workers' files would not be where daphne reads). Instead:

- Counters and histograms (escalations opened and closed, time to claim and to
  answer, webhook attempts and their latency) are Redis hashes, incremented
  after the commit by whichever process made the change (HINCRBY is atomic),
  and read with one HGETALL each at scrape time. Redis keeps them across
  restarts of our processes; if Redis itself loses them, they restart at zero,
  which Prometheus' rate() treats as a counter reset. An increment attempted
  while Redis is down is lost (and logged): metrics never fail a request.
- Gauges are read from the shared truth at scrape time: the queue size from
  the database (one GROUP BY on the esc_queue_counts partial index, which holds
  only active rows, cached under the newest event id as the console's counts
  are), websocket connections from the presence sorted sets in Redis, Celery's
  queue from the broker (LLEN), beat and worker heartbeats from Redis.

So a scrape costs a few Redis round trips and at most one index-only query,
whatever the size of the history. Every daphne answers with the same global
figures: scrape one of them (through the load balancer) or aggregate with max().
"""

from __future__ import annotations

import bisect
import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from escalation_project.redis_client import shared_redis

logger = logging.getLogger(__name__)

# --- Counters and histograms kept in Redis ------------------------------------------------


class _Stored:
    """One Redis hash per metric; a field per label combination (values joined by '|')."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]):
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)

    @property
    def key(self) -> str:
        return f"{settings.METRICS_KEY_PREFIX}:{self.name}"

    def _field(self, labels: dict[str, str]) -> str:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes the labels {self.labelnames}, not {tuple(labels)}.")
        return "|".join(str(labels[name]) for name in self.labelnames)


class StoredCounter(_Stored):
    def inc(self, pipe: Pipeline, amount: int = 1, **labels: str) -> None:
        pipe.hincrby(self.key, self._field(labels), amount)

    def family(self, stored: dict[bytes, bytes]) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for field, value in sorted(stored.items()):
            family.add_metric(field.decode().split("|"), float(value))
        return family


class StoredHistogram(_Stored):
    """Per label combination: one count per bucket (not cumulative: one HINCRBY per
    observation), the sum and, at scrape, the cumulative buckets Prometheus expects."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]):
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(sorted(buckets))

    def observe(self, pipe: Pipeline, value: float, **labels: str) -> None:
        field = self._field(labels)
        # The first bucket whose upper bound holds the value; len(buckets) is +Inf.
        index = bisect.bisect_left(self.buckets, value)
        pipe.hincrby(self.key, f"{field}#{index}", 1)
        pipe.hincrbyfloat(self.key, f"{field}#sum", value)

    def family(self, stored: dict[bytes, bytes]) -> HistogramMetricFamily:
        per_labels: dict[str, dict[str, float]] = {}
        for raw_field, value in stored.items():
            field, _, part = raw_field.decode().rpartition("#")
            per_labels.setdefault(field, {})[part] = float(value)
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        bounds = [*(_bound(b) for b in self.buckets), "+Inf"]
        for field, parts in sorted(per_labels.items()):
            running, buckets = 0.0, []
            for index, bound in enumerate(bounds):
                running += parts.get(str(index), 0.0)
                buckets.append((bound, running))
            family.add_metric(field.split("|"), buckets, parts.get("sum", 0.0))
        return family


def _bound(value: float) -> str:
    return repr(float(value))


MINUTE, HOUR = 60.0, 3600.0
# Human response times: from seconds (a supervisor watching) to a day (low urgency's target).
HUMAN_BUCKETS = (
    15.0, 30.0, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
    HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 24 * HOUR,
)  # fmt: skip
# Webhook attempts: a receiver on the same network answers in milliseconds; 15 s is the timeout.
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)

ESCALATIONS_OPENED = StoredCounter(
    "escalations_opened", "Escalations opened (evidence added to an open one does not count).", ["severity"]
)
ESCALATIONS_CLOSED = StoredCounter(
    "escalations_closed",
    "Escalations closed, by outcome (resolved, dismissed, withdrawn); automatic: by the timeout policy.",
    ["severity", "outcome", "automatic"],
)
ESCALATION_BREACHES = StoredCounter(
    "escalation_breaches",
    "Targets passed unanswered (response: unclaimed; resolution: unanswered).",
    ["target"],
)
TIME_TO_CLAIM = StoredHistogram(
    "escalation_time_to_claim_seconds",
    "From opening to the first claim (or to the answer that claimed it on the way).",
    ["severity"],
    HUMAN_BUCKETS,
)
TIME_TO_ANSWER = StoredHistogram(
    "escalation_time_to_answer_seconds",
    "From opening to a person's answer (respond or dismiss; not withdrawals or timeouts).",
    ["severity"],
    HUMAN_BUCKETS,
)
WEBHOOK_ATTEMPTS = StoredCounter(
    "webhook_attempts", "Webhook delivery attempts, by outcome (succeeded, retry, failed).", ["outcome"]
)
WEBHOOK_DURATION = StoredHistogram(
    "webhook_attempt_duration_seconds",
    "Time from sending a webhook to its response (or error).",
    ["outcome"],
    WEBHOOK_BUCKETS,
)
# Policy rules' judge (agents/policy_judge.py): a local model answers in ~0.1-2 s; the budget is ~3 s.
POLICY_JUDGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
POLICY_JUDGEMENTS = StoredCounter(
    "policy_judgements",
    "Policy rules judged, by outcome (escalate, no, skipped_timeout, skipped_error, "
    "skipped_rate_limited, skipped_malformed, skipped_busy, skipped_unconfigured); "
    "cached: answered from the verdict cache without a call.",
    ["outcome", "cached"],
)
POLICY_JUDGE_DURATION = StoredHistogram(
    "policy_judge_duration_seconds",
    "Time from sending a policy rule to the judge to its verdict (or the skip), calls only.",
    ["outcome"],
    POLICY_JUDGE_BUCKETS,
)
STORED = (
    ESCALATIONS_OPENED,
    ESCALATIONS_CLOSED,
    ESCALATION_BREACHES,
    TIME_TO_CLAIM,
    TIME_TO_ANSWER,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DURATION,
    POLICY_JUDGEMENTS,
    POLICY_JUDGE_DURATION,
)


# --- Recording (called by the services) -------------------------------------------------


def _write(record) -> None:
    """Run record(pipe) and send it in one round trip; a Redis failure is logged, never raised."""
    try:
        pipe = shared_redis().pipeline(transaction=False)
        record(pipe)
        pipe.execute()
    except (RedisConnectionError, RedisTimeoutError) as error:
        # Redis down: one line per lost record, not a traceback per transition for the outage.
        logger.warning("Could not record metrics in Redis: %s", error or type(error).__name__)
    except Exception:  # redis-py's errors vary; a metric must never fail the change it counts
        logger.warning("Could not record metrics in Redis.", exc_info=True)


def after_commit(record) -> None:
    """Record once the surrounding transaction commits (a rolled-back change counts nothing)."""
    transaction.on_commit(lambda: _write(record))


def escalation_opened(escalation) -> None:
    """Call inside the transaction that opened it."""
    after_commit(lambda pipe: ESCALATIONS_OPENED.inc(pipe, severity=escalation.severity))


def escalation_claimed(escalation) -> None:
    """Call inside the claiming transaction (also when an answer claims it on the way)."""
    waited = (escalation.claimed_at - escalation.created_at).total_seconds()
    after_commit(lambda pipe: TIME_TO_CLAIM.observe(pipe, waited, severity=escalation.severity))


def escalation_closed(escalation) -> None:
    """Call inside the closing transaction. A person's respond or dismiss is also an answer."""
    escalations_closed([escalation])


def escalations_closed(escalations) -> None:
    """escalation_closed for a batch (the timers' timeouts), in one write to Redis."""
    closings = [
        (
            escalation.severity,
            escalation.status,
            "true" if escalation.closed_automatically else "false",
            escalation.responder_id is not None and not escalation.closed_automatically,
            (escalation.closed_at - escalation.created_at).total_seconds(),
        )
        for escalation in escalations
    ]

    def record(pipe: Pipeline) -> None:
        for severity, outcome, automatic, answered, waited in closings:
            ESCALATIONS_CLOSED.inc(pipe, severity=severity, outcome=outcome, automatic=automatic)
            if answered:
                TIME_TO_ANSWER.observe(pipe, waited, severity=severity)

    after_commit(record)


def escalations_breached(target: str, count: int) -> None:
    after_commit(lambda pipe: ESCALATION_BREACHES.inc(pipe, amount=count, target=target))


def webhook_attempts(attempts: list[tuple[str, int]]) -> None:
    """(outcome, duration in ms) of a batch's attempts, in one write. Call after their rows committed."""

    def record(pipe: Pipeline) -> None:
        for outcome, duration_ms in attempts:
            WEBHOOK_ATTEMPTS.inc(pipe, outcome=outcome)
            WEBHOOK_DURATION.observe(pipe, duration_ms / 1000, outcome=outcome)

    _write(record)


def policy_judgements(judgements: list[tuple[str, bool, float | None]]) -> None:
    """(outcome, cached, seconds or None when no call was made) of one evaluation's policy
    rules, in one write. Not tied to a transaction: the call happened whatever is committed."""

    def record(pipe: Pipeline) -> None:
        for outcome, cached, seconds in judgements:
            POLICY_JUDGEMENTS.inc(pipe, outcome=outcome, cached="true" if cached else "false")
            if seconds is not None:
                POLICY_JUDGE_DURATION.observe(pipe, seconds, outcome=outcome)

    _write(record)


# --- Reading at scrape time ----------------------------------------------------------------

# kombu's Redis transport keeps a queue as one list per priority step (0 is the bare name)
# and the messages workers have taken but not acknowledged in one hash.
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_SEPARATOR = "\x06\x16"
KOMBU_UNACKED = "unacked"


# The gauges the apps read at scrape time, by source: the queue ("database", escalations) and
# the open consoles ("presence", supervisors). Each app registers its own in its AppConfig.ready,
# so this module counts what they give it and imports no app.
APP_SOURCES: dict[str, Callable[[], Iterable]] = {}


def register_source(name: str, read: Callable[[], Iterable]) -> None:
    APP_SOURCES[name] = read


class SharedStateCollector:
    """Yields every metric above from Redis and the database; a source that fails is left out
    and its `escalation_console_source_up` reads 0, so a scrape never fails as a whole."""

    def collect(self) -> Iterator:
        up = GaugeMetricFamily(
            "escalation_console_source_up",
            "1 if the source of these metrics answered this scrape, 0 if it did not.",
            labels=["source"],
        )
        for source, read in (("redis", self._stored), *APP_SOURCES.items(), ("broker", self._celery)):
            try:
                families = list(read())
            except Exception:  # any failure of the source: reported, not raised
                logger.warning("Metrics source %s failed.", source, exc_info=True)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _stored(self) -> Iterable:
        pipe = shared_redis().pipeline(transaction=False)
        for metric in STORED:
            pipe.hgetall(metric.key)
        for metric, stored in zip(STORED, pipe.execute(), strict=True):
            yield metric.family(stored)

    def _celery(self) -> Iterable:
        from escalation_project import heartbeats

        queues = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_WEBHOOKS_QUEUE]
        pipe = _broker().pipeline(transaction=False)
        for queue in queues:
            for step in KOMBU_PRIORITY_STEPS:
                pipe.llen(queue if step == 0 else f"{queue}{KOMBU_SEPARATOR}{step}")
        pipe.hlen(KOMBU_UNACKED)
        *lengths, unacked = pipe.execute()
        depth = GaugeMetricFamily(
            "celery_queue_length", "Tasks waiting in the broker for a worker.", labels=["queue"]
        )
        steps = len(KOMBU_PRIORITY_STEPS)
        for n, queue in enumerate(queues):
            depth.add_metric([queue], sum(lengths[n * steps : (n + 1) * steps]))
        yield depth
        yield GaugeMetricFamily(
            "celery_unacked_messages", "Tasks taken by workers and not yet finished.", value=unacked
        )
        age = GaugeMetricFamily(
            "celery_heartbeat_age_seconds",
            "Seconds since beat last sent, and a worker last ran, the heartbeat task.",
            labels=["role"],
        )
        for role, seconds in heartbeats.ages().items():
            if seconds is not None:
                age.add_metric([role], round(seconds, 3))
        yield age


def _broker():
    """The broker's Redis: the same server as REDIS_URL unless CELERY_BROKER_URL says otherwise."""
    import redis

    if settings.CELERY_BROKER_URL == settings.REDIS_URL:
        return shared_redis()
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)


_registry = CollectorRegistry(auto_describe=False)
_registry.register(SharedStateCollector())
# The serving process's own CPU, memory and file descriptors: per process, unlike the rest.
ProcessCollector(registry=_registry)


# --- The view ----------------------------------------------------------------------------------


def metrics_view(request):
    """GET /metrics in Prometheus' text format, for METRICS_TOKEN's bearer or, without a token
    set, for clients in METRICS_ALLOWED_NETWORKS (loopback by default)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)


def _refusal(request) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        response = _error(401, "unauthorized", "Send Authorization: Bearer <METRICS_TOKEN>.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is not None and any(address in network for network in settings.METRICS_ALLOWED_NETWORKS):
        return None
    return _error(
        403, "forbidden", "Metrics are served to METRICS_ALLOWED_NETWORKS only, or set METRICS_TOKEN."
    )


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)
