"""Webhook endpoints, one Delivery per (event, endpoint) and one Attempt per try.

The Delivery row is the work queue (written in the Event's transaction, see
webhooks.outbox.deliveries_for_events); its next_attempt_at is the only
schedule, so a lost Celery message or a broker outage delays a delivery but
never loses it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from supervisors.models import Team


class Endpoint(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Empty means every event type, including ones added later.
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    # Kept in clear text: HMAC signing needs the key itself (a digest would not do).
    # Shown to people once, at creation and rotation; never in API reads or admin pages.
    secret = models.CharField(max_length=100, editable=False)
    # During a rotation the old secret signs too, until it expires, so receivers
    # can switch over without dropping deliveries.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # After a timeout, a failed connection or a 429 the endpoint rests: its other deliveries
    # wait until resting_until instead of each holding a worker for the send timeout (or
    # hammering a receiver that asked us to slow down), so one receiver cannot stall every
    # team's webhooks. The rest doubles while that goes on (services.ENDPOINT_REST_*); any
    # other answer ends it. Kept out of the audit: it is the sender's state, not configuration.
    resting_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="After a send timed out, could not connect or got a 429, the endpoint's deliveries "
        "wait until this time. Empty while the receiver answers.",
    )
    rest_seconds = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The audit (console /console/audit/). Never the secrets: the history is shown to people.
    history = HistoricalRecords(
        excluded_fields=[
            "secret",
            "previous_secret",
            "previous_secret_expires_at",
            "resting_until",
            "rest_seconds",
            "updated_at",
        ],
        cascade_delete_history=False,
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "active"], name="webhook_endpoint_team")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def signing_secrets(self, now: dt.datetime) -> list[str]:
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# The rows the sweep reads: a partial index stays small however many deliveries are done.
DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class Delivery(models.Model):
    # The webhook-id header: stable across retries and manual redelivery, so
    # receivers can deduplicate on it. A UUID rather than the pk, so ids never
    # repeat across databases (a restored backup, staging vs production).
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey("escalations.Event", on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set when a task message is handed to the broker, cleared when a worker claims the
    # row: until then the sweep leaves the row alone, so a queue that lags behind does
    # not fill with copies of the same delivery. A lost message waits out the lease.
    enqueued_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The X-Request-ID of the request (or the task) whose change made this delivery: its
    # log lines, the enqueue and every attempt's share it, so one search finds them all.
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhook_delivery_one_per_event_endpoint"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=Q(status__in=DUE_STATUSES),
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} → {self.endpoint_id} ({self.status})"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.message_id.hex}"


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    RETRY = "retry", "Will retry"
    FAILED = "failed", "Failed"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # Bounded (see sender.EXCERPT_CHARS): a receiver's error page must not fill the database.
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_one_per_number")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.outcome}"
