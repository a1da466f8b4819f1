"""The webhooks' outbox: Delivery rows written in the transaction of the events they carry,
handed to the workers after the commit, and swept up again when a message was lost.

The escalations' outbox (escalations/outbox.py) calls deliveries_for_events; the
sending itself (claiming a delivery, the attempt, its outcome) is webhooks/services.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from escalation_project import request_id
from escalation_project.celery import delay_by_name
from escalation_project.redis_client import guarded
from escalations.models import Event
from escalations.team_config import team_config
from webhooks.models import DUE_STATUSES, Delivery, Endpoint

logger = logging.getLogger("webhooks.services")  # the name operators' log filters know

# The task that sends deliveries (webhooks/tasks.py).
DELIVER = "webhooks.tasks.deliver"
# How long the sweep trusts that an enqueued message will reach a worker: longer than a
# busy queue's wait, short enough that a message lost with the broker is sent soon after.
ENQUEUE_LEASE = dt.timedelta(seconds=60)
# Deliveries per task message. An event's deliveries travel together (one message, one
# claim, one write of their attempts: per delivery those were most of a worker's CPU).
DELIVERY_BATCH = 20
# Rows enqueued per sweep (every few seconds): a backlog drains over several sweeps.
SWEEP_BATCH = 500


@dataclass(frozen=True)
class Receiver:
    """What an event's Delivery rows need of an active endpoint (not its URL or secret: the
    sender reads those afresh, and a process keeps no secret it does not use)."""

    endpoint_id: int
    event_types: frozenset[str]  # empty: every event type

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def receivers_of(team_id: int) -> tuple[Receiver, ...]:
    """The team's active endpoints, kept until its settings stamp moves (escalations.team_config):
    every endpoint write in webhooks.services moves it. Most teams have none, and every event
    asks, so an event of such a team costs no endpoints query."""
    return team_config(
        team_id,
        "webhook_receivers",
        lambda: tuple(
            Receiver(pk, frozenset(event_types or ()))
            for pk, event_types in Endpoint.objects.filter(team_id=team_id, active=True)
            .order_by("pk")
            .values_list("pk", "event_types")
        ),
    )


def deliveries_for_events(events: list[Event]) -> list[Delivery]:
    """One Delivery per event and active endpoint of the event's team that wants its type.

    Call inside the events' transaction: a rolled-back change sends nothing, and
    a committed one is delivered even if the broker is down at this moment (the
    sweep finds the rows). The endpoints come from each team's kept configuration
    (receivers_of) and the rows go in one insert, so a timer's batch of events costs
    what one event does.
    """
    receivers = {team_id: receivers_of(team_id) for team_id in {event.team_id for event in events}}
    if not any(receivers.values()):
        return []
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        [
            # Enqueued on commit: the sweep must not send a second message meanwhile.
            Delivery(
                event=event,
                endpoint_id=receiver.endpoint_id,
                next_attempt_at=now,
                enqueued_until=now + ENQUEUE_LEASE,
                request_id=request_id.current() or "",
            )
            for event in events
            for receiver in receivers[event.team_id]
            if receiver.wants(event.type)
        ]
    )
    if not deliveries:
        return []
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: enqueue(ids))
    return deliveries


def enqueue(delivery_ids: list[int]) -> None:
    """Hand deliveries to Celery, DELIVERY_BATCH per message; if the broker is down, the sweep sends them.

    The rows must carry an enqueue lease (deliveries_claim_due and the writers
    above set it); a row whose message could not be sent gets its lease back.
    """
    for start in range(0, len(delivery_ids), DELIVERY_BATCH):
        try:
            # Through the breaker: a Redis that timed out a moment ago is not waited on again.
            with guarded():
                # By name: the tasks module imports the services, which import this module.
                delay_by_name(DELIVER, delivery_ids[start : start + DELIVERY_BATCH])
        except Exception as error:  # broker errors vary by transport; none may fail the request
            logger.warning(
                "Broker unavailable; deliveries %s wait for the sweep (%s).", delivery_ids[start:], error
            )
            # No message is waiting for these: the next sweep may take them at once.
            Delivery.objects.filter(pk__in=delivery_ids[start:]).update(enqueued_until=None)
            return


def deliveries_claim_due(*, now: dt.datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Due deliveries with no message waiting in the broker, each leased for ENQUEUE_LEASE: enqueue them.

    Without the lease, every sweep (every 5 s) would enqueue again each due row
    that the workers have not reached yet, and a lagging queue would snowball.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = (
            Delivery.objects.filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .filter(Q(enqueued_until__isnull=True) | Q(enqueued_until__lte=now))
            # A resting endpoint's rows wait for its rest (a probe holds it, too): thousands of
            # them must not fill each sweep's batch ahead of the other endpoints' due retries.
            .filter(Q(endpoint__resting_until__isnull=True) | Q(endpoint__resting_until__lte=now))
            .order_by("next_attempt_at")
            # PostgreSQL: two sweeps (a beat restarted twice) take disjoint rows. SQLite
            # ignores it; its IMMEDIATE transaction already serialises the two. of=self: not
            # the endpoint rows the rest filter joins (a worker's rest write would wait on them).
            .select_for_update(skip_locked=True, of=("self",))
        )
        rows = list(due.values_list("pk", "endpoint_id")[:limit])
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(enqueued_until=now + ENQUEUE_LEASE)
    # An endpoint's rows side by side, so enqueue's batches each go to few receivers: one
    # receiver timing out then holds up mostly its own retries (sorted() keeps the due order).
    return [pk for pk, _ in sorted(rows, key=lambda row: row[1])]
