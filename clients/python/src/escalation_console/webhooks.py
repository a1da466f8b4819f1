"""verify_webhook: the Standard Webhooks check, with the standard library only.

The spec (standardwebhooks.com) is a short HMAC recipe; writing its dozen lines
here keeps httpx this package's only dependency (the `standardwebhooks`
package brings attrs, python-dateutil, Deprecated and type stubs). The tests
check it against deliveries the server signs with `standardwebhooks`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from escalation_console.errors import EscalationConsoleError

# The spec's tolerance: older (or future) timestamps are refused as possible replays.
TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(EscalationConsoleError):
    """The request is not a genuine delivery: missing headers, a bad signature or a stale timestamp."""


def verify_webhook(
    body: bytes | str, headers: Mapping[str, str], secret: str, *, now: float | None = None
) -> Any:
    """The delivery's decoded JSON payload when `headers` carry a valid signature of `body` by `secret`
    (the endpoint's `whsec_…`); raises WebhookVerificationError otherwise.

    Pass the raw body exactly as received: re-serialised JSON would not match the signature.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        msg_id, timestamp, signatures = (
            lowered["webhook-id"],
            lowered["webhook-timestamp"],
            lowered["webhook-signature"],
        )
    except KeyError as missing:
        raise WebhookVerificationError(f"Missing header {missing.args[0]}.") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number.") from None
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook-timestamp is too old or in the future.")
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    payload = body.encode() if isinstance(body, str) else body
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{sent_at}.".encode() + payload, hashlib.sha256).digest()
    ).decode()
    # Several space-separated "v1,<base64>" while a secret is being rotated: any one may match.
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(payload)
    raise WebhookVerificationError("No matching signature.")
