"""The retry policy, pure: what an attempt's result means for its delivery, and the wait before
the next attempt. No database, no clock of its own (`now` is passed in).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random

from webhooks import sender
from webhooks.models import AttemptOutcome, DeliveryStatus

# The Standard Webhooks schedule: the wait before retry n (after attempt n), about three days in all.
RETRY_SCHEDULE = [
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=14),
    dt.timedelta(hours=20),
    dt.timedelta(hours=24),
]
# The first try plus one per retry; the attempt count in the database stops here, whatever the queue does.
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
# Jitter spreads a burst of retries (an endpoint back after an outage) over 10% of each wait.
JITTER = 0.1


class Decision:
    def __init__(
        self,
        outcome: AttemptOutcome,
        *,
        error: str = "",
        next_attempt_at: dt.datetime | None = None,
        disable_reason: str = "",
        rest: bool = False,
        rest_at_least: dt.timedelta | None = None,
    ):
        self.outcome = outcome
        self.error = error[:500]
        self.next_attempt_at = next_attempt_at
        self.disable_reason = disable_reason
        # The endpoint rests (_EndpointRests): it did not answer (a timeout, a failed connection;
        # not a refused address), or it answered 429, for at least its Retry-After if it gave one.
        self.rest = rest
        self.rest_at_least = rest_at_least

    @property
    def status(self) -> DeliveryStatus:
        return {
            AttemptOutcome.SUCCEEDED: DeliveryStatus.SUCCEEDED,
            AttemptOutcome.RETRY: DeliveryStatus.RETRYING,
            AttemptOutcome.FAILED: DeliveryStatus.FAILED,
        }[self.outcome]


def decide(result: sender.SendResult, *, attempt_number: int, now: dt.datetime) -> Decision:
    """The policy: 2xx succeeds; timeouts, connection errors, 429 and 5xx retry; the rest fail."""
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return Decision(AttemptOutcome.SUCCEEDED)
    no_answer = code is None and result.retryable_error
    rest = no_answer or code == 429
    rest_at_least = _parse_retry_after(result.retry_after, now=now) if code == 429 else None
    if code is None:
        if not no_answer:
            return Decision(AttemptOutcome.FAILED, error=result.error)
        error = result.error
    elif 300 <= code < 400:
        return Decision(AttemptOutcome.FAILED, error=f"HTTP {code}: redirects are not followed.")
    elif code == 410:
        return Decision(
            AttemptOutcome.FAILED,
            error="HTTP 410: the receiver says this endpoint is gone.",
            disable_reason="The receiver answered 410 Gone.",
        )
    elif code == 429 or code >= 500:
        error = f"HTTP {code}"
    else:
        return Decision(AttemptOutcome.FAILED, error=f"HTTP {code}: not retried.")

    if attempt_number >= MAX_ATTEMPTS:
        gave_up = f"{error} (gave up after {attempt_number} attempts)"
        return Decision(AttemptOutcome.FAILED, error=gave_up, rest=rest, rest_at_least=rest_at_least)
    return Decision(
        AttemptOutcome.RETRY,
        error=error,
        next_attempt_at=now + retry_delay(attempt_number, retry_after=result.retry_after, now=now),
        rest=rest,
        rest_at_least=rest_at_least,
    )


def retry_delay(attempt_number: int, *, retry_after: str | None, now: dt.datetime) -> dt.timedelta:
    """The wait after attempt n: the schedule plus jitter, or longer if Retry-After asks (capped at a day)."""
    scheduled = RETRY_SCHEDULE[attempt_number - 1]
    delay = scheduled + scheduled * random.uniform(0, JITTER)
    asked = _parse_retry_after(retry_after, now=now)
    if asked is not None:
        delay = max(delay, min(asked, RETRY_SCHEDULE[-1]))
    return delay


def _parse_retry_after(value: str | None, *, now: dt.datetime) -> dt.timedelta | None:
    """Retry-After is either whole seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - now, dt.timedelta(0))
