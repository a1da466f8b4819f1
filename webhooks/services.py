"""All writes to webhook endpoints, and the sending of deliveries (the outbox that makes them is
webhooks/outbox.py, the retry policy webhooks/policy.py).

A delivery is claimed with one conditional UPDATE that pushes its
next_attempt_at a lease ahead (the design's "one conditional write"), rather
than a row lock held across the HTTP call: on SQLite a write transaction held
for up to 15 s would block every other write. A worker that dies mid-attempt
leaves the lease to expire and the sweep sends the delivery again, with the
same webhook-id.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets as random_secrets
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from escalation_project import metrics
from escalations.models import EventType
from escalations.outbox import email_on_commit, team_event_append
from escalations.team_settings import team_settings_changed
from supervisors.models import Role, Team
from webhooks import sender
from webhooks.models import (
    DUE_STATUSES,
    Attempt,
    AttemptOutcome,
    Delivery,
    DeliveryStatus,
    Endpoint,
)
from webhooks.outbox import ENQUEUE_LEASE, enqueue
from webhooks.policy import Decision, decide

logger = logging.getLogger(__name__)

# Longer than the sender's connect + read timeouts, so a live attempt keeps its claim.
SEND_LEASE = dt.timedelta(seconds=60)
# A batch sends one delivery after another and starts no new send after this long (the
# rest are queued again at once), so its last attempt, at most the sender's 15 s more,
# ends within the task's soft time limit and well within the claim's SEND_LEASE.
BATCH_SEND_SECONDS = 20
# An endpoint that did not answer (a timeout, a failed connection) or answered 429 rests this
# long, doubling while that goes on (Endpoint.resting_until): 5 s, 10 s, ... 5 min; a 429's
# Retry-After lengthens it, within the same cap.
ENDPOINT_REST_FIRST = dt.timedelta(seconds=5)
ENDPOINT_REST_MAX = dt.timedelta(minutes=5)
# A probe's hold on a rest that is over: longer than one send (sender.TIMEOUT, 15 s).
ENDPOINT_PROBE_HOLD = dt.timedelta(seconds=20)
SECRET_BYTES = 32
TEST_EVENT_TYPE = "webhook.test"


# --- Endpoints ------------------------------------------------------------------


def generate_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (Standard Webhooks asks for 24 to 64)."""
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode()


def _clean_event_types(event_types: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [name for name in chosen if name not in EventType.values]
    if unknown:
        known = ", ".join(EventType.values)
        raise ValidationError(
            {"event_types": f"Unknown event type(s): {', '.join(unknown)}. Known: {known}."}
        )
    return chosen


def _clean_url(url: str) -> str:
    try:
        sender.validate_url(url)
    except ValidationError as exc:
        raise ValidationError({"url": exc.messages}) from None
    return url


def endpoint_create(
    *,
    team: Team,
    url: str,
    description: str = "",
    event_types: Iterable[str] | None = None,
    active: bool = True,
) -> Endpoint:
    """The returned endpoint's `secret` is the only time it is shown: pass it to the person."""
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            team=team,
            url=_clean_url(url),
            description=description,
            event_types=_clean_event_types(event_types),
            active=active,
            secret=generate_secret(),
        )
        # Every process's kept list of the team's endpoints (webhooks.outbox.receivers_of).
        team_settings_changed(team_id=team.pk)
    return endpoint


def endpoint_update(*, endpoint_id: int, data: dict[str, Any]) -> Endpoint:
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        if "url" in data:
            endpoint.url = _clean_url(data["url"])
        if "event_types" in data:
            endpoint.event_types = _clean_event_types(data["event_types"])
        if "description" in data:
            endpoint.description = data["description"]
        if "active" in data:
            if data["active"] and not endpoint.active:
                # Re-enabled: the reason it was off no longer applies.
                endpoint.disabled_at = None
                endpoint.disabled_reason = ""
            endpoint.active = data["active"]
        endpoint.save()
        team_settings_changed(team_id=endpoint.team_id)
    return endpoint


def endpoint_rotate_secret(*, endpoint_id: int) -> Endpoint:
    """A new secret signs from now on; the old one also signs for the grace period."""
    now = timezone.now()
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + dt.timedelta(hours=settings.WEBHOOKS_ROTATION_GRACE_HOURS)
        endpoint.secret = generate_secret()
        endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint_id: int) -> None:
    with transaction.atomic():
        team_ids = set(Endpoint.objects.filter(pk=endpoint_id).values_list("team_id", flat=True))
        Endpoint.objects.filter(pk=endpoint_id).delete()
        for team_id in team_ids:
            team_settings_changed(team_id=team_id)


def endpoint_disable(*, endpoint_id: int, reason: str) -> bool:
    """Call inside atomic. False if it was already off. Pending deliveries fail when their turn comes.

    The team hears of it once: an Event (feed, console, the team's other
    endpoints), an email to its owners after commit (the retrying email task),
    and a console banner for owners while disabled_at is set (webhooks.selectors).
    """
    now = timezone.now()
    disabled = Endpoint.objects.filter(pk=endpoint_id, active=True).update(
        active=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
    )
    if not disabled:
        return False
    endpoint = Endpoint.objects.select_related("team").get(pk=endpoint_id)
    # Before the event below: its deliveries must not go to this endpoint any more.
    team_settings_changed(team_id=endpoint.team_id)
    # QuerySet.update() writes no history row: the audit gets its own.
    Endpoint.history.bulk_history_create([endpoint], update=True, default_change_reason=f"Disabled: {reason}")
    event = team_event_append(
        team_id=endpoint.team_id,
        event_type=EventType.WEBHOOK_ENDPOINT_DISABLED,
        payload={
            "endpoint": {
                "id": endpoint.pk,
                "url": endpoint.url,
                "description": endpoint.description,
                "team": {"id": endpoint.team_id, "slug": endpoint.team.slug},
            },
            "reason": endpoint.disabled_reason,
            "disabled_at": now.isoformat(),
            "actor": {"user": None, "agent": None},
        },
    )
    owners = get_user_model().objects.filter(
        memberships__team_id=endpoint.team_id, memberships__role=Role.OWNER, is_active=True
    )
    email_on_commit([(event.pk, sorted(owners.values_list("username", flat=True)))])
    logger.warning("Webhook endpoint %s disabled: %s", endpoint_id, reason)
    return True


# --- Sending --------------------------------------------------------------------


def deliveries_attempt(*, delivery_ids: list[int]) -> list[Delivery]:
    """Send one attempt of each of these deliveries that is due, one after another, and record them.

    Returns the deliveries this call claimed, as written; rows another worker
    holds or that are not due are left out. One claim, one read and one write
    of the attempts serve the whole batch: per delivery they were most of a
    worker's CPU (bench/README.md, webhooks).
    """
    claimed = _deliveries_claim(delivery_ids, now=timezone.now())
    if not claimed:
        return []
    changes: list[tuple[Delivery, dict[str, Any]]] = []
    attempts: list[Attempt] = []
    decisions: list[Decision] = []
    to_disable: dict[int, str] = {}  # endpoint id -> reason (a 410)
    failing: dict[int, Endpoint] = {}  # endpoints with a failed attempt: checked for auto-disable
    rests = _EndpointRests(claimed)
    # Endpoints known not to answer go last (a stable sort keeps the rest in order): a probe
    # that times out then holds up none of the batch's other receivers.
    claimed.sort(key=lambda delivery: delivery.endpoint.rest_seconds > 0)
    handed_back: list[int] = []
    deadline = time.monotonic() + BATCH_SEND_SECONDS
    for delivery in claimed:
        endpoint = delivery.endpoint
        if not endpoint.active or endpoint.pk in to_disable:
            changes.append((delivery, _NOT_SENT_DISABLED))
            continue
        if time.monotonic() > deadline:
            # A slow receiver ate the batch's time: the rest go back to the queue at once,
            # so no attempt outlives the claim's lease or the task's time limit.
            handed_back.append(delivery.pk)
            continue
        # After the deadline check: a batch that wins a probe (wait_until) sends it.
        if resting_until := rests.wait_until(endpoint.pk):
            changes.append((delivery, _not_sent_resting(resting_until)))
            continue
        attempt, decision = _attempt_send(delivery)
        attempts.append(attempt)
        decisions.append(decision)
        changes.append(
            (
                delivery,
                {
                    "attempt_count": attempt.number,
                    "last_status_code": attempt.status_code,
                    "last_error": decision.error,
                    "status": decision.status,
                    "next_attempt_at": decision.next_attempt_at,
                },
            )
        )
        rests.after(endpoint.pk, decision)
        if decision.disable_reason:
            to_disable[endpoint.pk] = decision.disable_reason
        elif decision.outcome != AttemptOutcome.SUCCEEDED:
            failing[endpoint.pk] = endpoint
    _attempts_record(
        attempts, changes, to_disable=to_disable, failing=list(failing.values()), handed_back=handed_back
    )
    for attempt, decision in zip(attempts, decisions, strict=True):
        _log_attempt(attempt, decision)
    metrics.webhook_attempts(
        [
            (decision.outcome, attempt.duration_ms)
            for attempt, decision in zip(attempts, decisions, strict=True)
        ]
    )
    return [delivery for delivery, _ in changes]


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """deliveries_attempt for one delivery: None when it was not ours to send."""
    sent = deliveries_attempt(delivery_ids=[delivery_id])
    return sent[0] if sent else None


# A claimed delivery whose endpoint is off (or went off earlier in its batch) fails unsent.
_NOT_SENT_DISABLED = {
    "status": DeliveryStatus.FAILED,
    "next_attempt_at": None,
    "last_error": "Not sent: the endpoint is disabled.",
}


def _not_sent_resting(until: dt.datetime) -> dict[str, Any]:
    """A claimed delivery to a resting endpoint waits, unsent and uncounted, for the rest's end."""
    return {
        "next_attempt_at": until,
        "last_error": f"Not sent yet: an earlier attempt got no answer or a 429; the endpoint rests until "
        f"{until:%Y-%m-%d %H:%M:%S} UTC.",
    }


class _EndpointRests:
    """The rests of a batch's endpoints: read with the claim, then started, probed and ended here.

    Written at once, outside the batch's transaction, so that batches running beside
    this one see a rest the moment it starts. The claim loads an Endpoint per delivery,
    so the state is kept per endpoint id: (resting_until, rest_seconds).
    """

    def __init__(self, claimed: list[Delivery]):
        self.state = {d.endpoint_id: (d.endpoint.resting_until, d.endpoint.rest_seconds) for d in claimed}

    def wait_until(self, endpoint_id: int) -> dt.datetime | None:
        """When the endpoint's deliveries may be sent, or None for now.

        A rest that is over takes one probe: the batch that moves resting_until on by
        ENDPOINT_PROBE_HOLD sends; the others find the moved time and wait for it, so
        a receiver still down holds one worker for one timeout, not every worker.
        """
        for _ in range(2):
            until, seconds = self.state[endpoint_id]
            now = timezone.now()
            if until is None:
                return None
            if until > now:
                return until
            if Endpoint.objects.filter(pk=endpoint_id, resting_until=until).update(
                resting_until=now + ENDPOINT_PROBE_HOLD
            ):
                self.state[endpoint_id] = (None, seconds)  # this batch probes; after() records how it went
                return None
            # Another batch probes (or its probe ended): read what the endpoint says now.
            self.state[endpoint_id] = Endpoint.objects.values_list("resting_until", "rest_seconds").get(
                pk=endpoint_id
            )
        return self.state[endpoint_id][0]

    def after(self, endpoint_id: int, decision: Decision) -> None:
        """An attempt to the endpoint ended: an answer ends a rest; no answer, or a 429, starts one."""
        _, seconds = self.state[endpoint_id]
        if not decision.rest:
            if seconds:
                self._write(endpoint_id, None, 0)
            return
        rest = min(max(ENDPOINT_REST_FIRST, 2 * dt.timedelta(seconds=seconds)), ENDPOINT_REST_MAX)
        if decision.rest_at_least is not None:  # the receiver's Retry-After, within the same cap
            rest = min(max(rest, decision.rest_at_least), ENDPOINT_REST_MAX)
        self._write(endpoint_id, timezone.now() + rest, int(rest.total_seconds()))
        logger.warning(
            "Webhook endpoint %s rests %d s: %s.",
            endpoint_id,
            rest.total_seconds(),
            decision.error,
            extra={"endpoint_id": endpoint_id, "rest_seconds": int(rest.total_seconds())},
        )

    def _write(self, endpoint_id: int, until: dt.datetime | None, seconds: int) -> None:
        self.state[endpoint_id] = (until, seconds)
        Endpoint.objects.filter(pk=endpoint_id).update(resting_until=until, rest_seconds=seconds)


def _deliveries_claim(delivery_ids: list[int], *, now: dt.datetime) -> list[Delivery]:
    """The due ones among delivery_ids, with endpoint and event, each leased to this worker for SEND_LEASE.

    Of two tasks for one delivery (a re-enqueue, a message redelivered after a
    worker crash) exactly one claims it: on PostgreSQL the row lock (a row
    locked by another claim is skipped; once that commits its lease makes the
    row not due), on SQLite the IMMEDIATE transaction.
    """
    with transaction.atomic():
        claimed = list(
            Delivery.objects.filter(pk__in=delivery_ids, status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .select_related("endpoint", "event")
            # of=self: locking the endpoint rows too would make concurrent batches to
            # the same endpoints skip each other's deliveries.
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
        )
        if claimed:
            Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
                next_attempt_at=now + SEND_LEASE, enqueued_until=None
            )
    return claimed


def _attempt_send(delivery: Delivery) -> tuple[Attempt, Decision]:
    """POST one attempt; return its Attempt row (not saved yet) and what it means for the delivery."""
    endpoint, event = delivery.endpoint, delivery.event
    body = sender.event_body(event_type=event.type, timestamp=event.created_at, data=event.payload)
    started_at = timezone.now()
    result = sender.send(
        url=endpoint.url,
        secrets=endpoint.signing_secrets(started_at),
        webhook_id=delivery.webhook_id,
        body=body,
    )
    number = delivery.attempt_count + 1
    decision = decide(result, attempt_number=number, now=timezone.now())
    attempt = Attempt(
        delivery=delivery,
        number=number,
        started_at=started_at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        response_excerpt=result.excerpt,
        error=result.error,
        outcome=decision.outcome,
    )
    return attempt, decision


def _attempts_record(
    attempts: list[Attempt],
    changes: list[tuple[Delivery, dict[str, Any]]],
    *,
    to_disable: dict[int, str],
    failing: list[Endpoint],
    handed_back: list[int],
) -> None:
    """Write a batch's attempts and its deliveries' new state in one transaction."""
    now = timezone.now()
    # Rows that end the same way (in a healthy batch: all of them) take one UPDATE.
    same: dict[tuple, list[int]] = {}
    for delivery, change in changes:
        for field, value in change.items():
            setattr(delivery, field, value)
        same.setdefault(tuple(change.items()), []).append(delivery.pk)
    with transaction.atomic():
        Attempt.objects.bulk_create(attempts)
        for change_items, ids in same.items():
            Delivery.objects.filter(pk__in=ids).update(**dict(change_items), updated_at=now)
        if handed_back:
            Delivery.objects.filter(pk__in=handed_back).update(
                next_attempt_at=now, enqueued_until=now + ENQUEUE_LEASE, updated_at=now
            )
            transaction.on_commit(lambda: enqueue(handed_back))
        for endpoint_id, reason in to_disable.items():
            endpoint_disable(endpoint_id=endpoint_id, reason=reason)
        for endpoint in failing:
            _disable_if_failing_too_long(endpoint)


def _log_attempt(attempt: Attempt, decision: Decision) -> None:
    """One line per attempt. Never the URL (receivers put tokens in them) nor the body."""
    delivery = attempt.delivery
    logger.log(
        logging.INFO if decision.outcome == AttemptOutcome.SUCCEEDED else logging.WARNING,
        "Webhook %s attempt %s: %s",
        delivery.webhook_id,
        attempt.number,
        decision.outcome,
        extra={
            "delivery_id": delivery.pk,
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id,
            "event_type": delivery.event.type,
            "endpoint_id": delivery.endpoint_id,
            "attempt": attempt.number,
            "outcome": decision.outcome,
            "status_code": attempt.status_code,
            "duration_ms": attempt.duration_ms,
            "error": decision.error,
            # The request that made the delivery; request_id is the one that enqueued this attempt.
            "origin_request_id": delivery.request_id,
        },
    )


def _disable_if_failing_too_long(endpoint: Endpoint) -> None:
    """Disable the endpoint if every attempt since its last success (or ever) failed, for N days."""
    attempts = Attempt.objects.filter(delivery__endpoint=endpoint)
    last_success = attempts.filter(outcome=AttemptOutcome.SUCCEEDED).aggregate(at=Max("started_at"))["at"]
    since = attempts.filter(started_at__gt=last_success) if last_success else attempts
    first_failure = since.aggregate(at=Min("started_at"))["at"]
    window = dt.timedelta(days=settings.WEBHOOKS_AUTO_DISABLE_DAYS)
    if first_failure is not None and timezone.now() - first_failure >= window:
        endpoint_disable(
            endpoint_id=endpoint.pk,
            reason=f"Every attempt failed for {settings.WEBHOOKS_AUTO_DISABLE_DAYS} days "
            f"(since {first_failure:%Y-%m-%d %H:%M} UTC).",
        )


# --- Redelivery and tests -----------------------------------------------------------


def delivery_redeliver(*, delivery_id: int) -> bool:
    """One more attempt now, with the same webhook-id. Past the attempt cap it is not retried again.

    False if the delivery is still pending or retrying: it is queued already (or
    being sent), and a second send beside it would break the one-sender claim.
    """
    return _requeue(Delivery.objects.filter(pk=delivery_id)) == 1


def deliveries_replay_failed(*, endpoint_id: int, since: dt.datetime) -> int:
    """Send again every failed delivery of the endpoint for events since `since`."""
    return _requeue(
        Delivery.objects.filter(
            endpoint_id=endpoint_id, status=DeliveryStatus.FAILED, event__created_at__gte=since
        )
    )


def _requeue(deliveries) -> int:
    now = timezone.now()
    with transaction.atomic():
        rows = list(deliveries.exclude(status__in=DUE_STATUSES).values_list("pk", "endpoint_id"))
        ids = [pk for pk, _ in rows]
        # A person asked for a send now (the receiver is fixed, say): the endpoint's rest ends.
        Endpoint.objects.filter(pk__in={endpoint_id for _, endpoint_id in rows}, rest_seconds__gt=0).update(
            resting_until=None, rest_seconds=0
        )
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            enqueued_until=now + ENQUEUE_LEASE,
            updated_at=now,
        )
        transaction.on_commit(lambda: enqueue(ids))
    return len(ids)


def endpoint_send_test(*, endpoint_id: int) -> sender.SendResult:
    """A signed `webhook.test` message, sent now and not recorded: for checking a receiver's setup."""
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    now = timezone.now()
    body = sender.event_body(
        event_type=TEST_EVENT_TYPE,
        timestamp=now,
        data={"endpoint": {"id": endpoint.pk, "team": {"id": endpoint.team_id}}, "test": True},
    )
    return sender.send(
        url=endpoint.url,
        secrets=endpoint.signing_secrets(now),
        webhook_id=f"msg_test_{random_secrets.token_hex(16)}",
        body=body,
    )
