"""Idempotency-Key for agent writes: claim the key with an insert, do the work, store the response.

- same key, same request, finished: the stored response is returned again;
- same key, another request body: refused (422);
- same key while the first request is still running: refused (409), retry later.
A request that fails does not keep its key: the row is deleted, so a retry
with the same key does the work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Agent
from escalations.models import IdempotencyRecord, IdempotencyStatus


class KeyReused(Exception):
    """The key was used before with a different request."""


class KeyInFlight(Exception):
    """The first request with this key has not finished."""


@dataclass(frozen=True)
class Claim:
    record: IdempotencyRecord
    replay: bool  # True: record holds the response to return; no work to do


def fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(*, agent: Agent, key: str, request_fingerprint: str) -> Claim:
    try:
        # Its own transaction, committed before the work starts: a concurrent
        # request with the same key sees the row and is turned away.
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(agent=agent, key=key, fingerprint=request_fingerprint)
        return Claim(record, replay=False)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(agent=agent, key=key)
    if record.fingerprint != request_fingerprint:
        raise KeyReused
    if record.status == IdempotencyStatus.DONE:
        return Claim(record, replay=True)
    stale_before = timezone.now() - dt.timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
    # A request that crashed mid-way left its row in flight: one later request takes it over.
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyStatus.IN_FLIGHT, created_at__lt=stale_before
    ).update(created_at=timezone.now())
    if taken:
        return Claim(record, replay=False)
    raise KeyInFlight


def idempotency_complete(*, record: IdempotencyRecord, status_code: int, body: Any) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyStatus.DONE, response_code=status_code, response_body=body
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, status=IdempotencyStatus.IN_FLIGHT).delete()


def idempotency_prune(*, older_than: dt.timedelta) -> int:
    """Forget keys older than this: a retry that late does the work again. Returns how many went."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
