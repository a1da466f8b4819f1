"""The outbox: every change of an escalation (or a team) is an Event row, appended last in the
change's transaction, and what follows from it is handed on after the commit.

In the transaction: the Event rows under the lock that keeps their ids in commit
order, and the webhook Delivery rows (webhooks.outbox). After the commit: the
broadcast to the team's channel group, the log line, the deliveries' task, and
the emails, enqueued by task name. This module imports no verb: the verbs call it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction

from agents.models import Agent
from escalation_project.celery import delay_by_name
from escalation_project.redis_client import guarded
from escalations import broadcast
from escalations.models import Escalation, Event, EventType
from escalations.payloads import escalation_payload
from escalations.wording import name_of
from webhooks.outbox import deliveries_for_events

# The event lines keep the logger name they have always had: log filters and dashboards name it.
logger = logging.getLogger("escalations.services")

# The task that emails events to people (escalations/tasks.py).
SEND_EVENT_EMAILS = "escalations.tasks.send_event_emails"


def append_event(
    escalation: Escalation,
    event_type: EventType,
    *,
    user: AbstractBaseUser | None = None,
    agent: Agent | None = None,
    extra: dict[str, Any] | None = None,
) -> Event:
    """One escalation's event: append_events with a list of one."""
    (event,) = append_events([(escalation, event_type, extra)], user=user, agent=agent)
    return event


def append_events(
    items: list[tuple[Escalation, EventType, dict[str, Any] | None]],
    *,
    user: AbstractBaseUser | None = None,
    agent: Agent | None = None,
) -> list[Event]:
    """Write the outbox rows, (escalation, type, extra payload) each, and schedule their broadcast.

    Call last inside atomic.
    """
    return write_events(
        [
            Event(
                type=event_type,
                escalation=escalation,
                team_id=escalation.team_id,
                actor=user,
                actor_agent=agent,
                payload={
                    "escalation": escalation_payload(escalation),
                    "actor": {
                        "user": name_of(user) if user else None,
                        "agent": agent.slug if agent else None,
                    },
                    **(extra or {}),
                },
            )
            for escalation, event_type, extra in items
        ]
    )


def team_event_append(*, team_id: int, event_type: EventType, payload: dict[str, Any]) -> Event:
    """An event about the team rather than one escalation (e.g. a webhook endpoint disabled).

    Call last inside atomic. It is broadcast, in the event feed and sent to webhooks like the rest.
    """
    (event,) = write_events([Event(type=event_type, team_id=team_id, payload=payload)])
    return event


def write_events(events: list[Event]) -> list[Event]:
    if not events:
        return []
    if connection.vendor == "postgresql":
        # Sequence values are taken at insert but become visible at commit, so
        # without this a reader could see event 12 before 11 commits and skip
        # 11 forever. Held to commit; every transition takes it last, so no
        # lock-order cycle. (SQLite's IMMEDIATE transactions already serialise.)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])
    # One INSERT: ids are taken in list order, so a batch's events keep their order.
    Event.objects.bulk_create(events)
    messages = [broadcast.event_message(event) for event in events]
    transaction.on_commit(lambda: _publish(messages))
    transaction.on_commit(lambda: _log_events(events))
    # Delivery rows in this same transaction; they are enqueued on commit.
    deliveries_for_events(events)
    return events


def _publish(messages: list[dict[str, Any]]) -> None:
    for message in messages:  # in event order, one broadcast per event
        broadcast.publish_event(message)


def _log_events(events: list[Event]) -> None:
    """After the commit: the lines that tie a request id (on every line) to the changes it made."""
    for event in events:
        logger.info(
            "Event %s %s",
            event.pk,
            event.type,
            extra={
                "event_id": event.pk,
                "event_type": event.type,
                "escalation_id": event.escalation_id,
                "team_id": event.team_id,
            },
        )


# An arbitrary constant naming the advisory lock that orders event commits.
EVENT_ORDER_LOCK = 7_240_001


def email_on_commit(items: list[tuple[int, list[str]]]) -> None:
    """After the commit, email each (event id, usernames) with anyone to tell: one task for the lot.
    Call inside atomic."""
    items = [(event_id, usernames) for event_id, usernames in items if usernames]
    if items:
        transaction.on_commit(lambda: _enqueue_emails(items))


def _enqueue_emails(items: list[tuple[int, list[str]]]) -> None:
    try:
        # Through the breaker: a Redis that timed out a moment ago is not waited on again.
        with guarded():
            # By name: the tasks module imports the timers, whose verbs call this module.
            delay_by_name(SEND_EVENT_EMAILS, items)
    except Exception as error:  # the broker's errors vary by transport; the console has the events anyway
        events = [event_id for event_id, _ in items]
        logger.warning("Broker unavailable; no email for events %s (%s).", events, error)
