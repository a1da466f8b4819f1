"""The one module that makes outbound HTTP calls. Tests patch it here, or point it at a local receiver.

Safety: requests-hardened resolves the host, refuses private, loopback,
link-local, CGNAT, metadata and IPv4-mapped addresses, then connects to the
address it checked, so a DNS answer cannot change between check and connect.
Redirects are never followed (a 3xx is a failure): following one would send
the signed body to a URL nobody validated.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress, filter_host
from standardwebhooks import Webhook
from urllib3.util import Timeout

# 15 s from connecting to the response headers, whatever the split (urllib3's
# `total`). Reads of the body are each bounded too, but a receiver trickling
# bytes could stretch them: we read at most a few KB, and the task's soft time
# limit is the backstop.
TIMEOUT = Timeout(connect=5.0, read=15.0, total=15.0)
# Characters of the response (or error) kept on each Attempt row.
EXCERPT_CHARS = 1000
USER_AGENT = "EscalationConsole-Webhooks/1"


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""
    # Timeouts and connection errors are worth retrying; a refused address is not.
    retryable_error: bool = False
    retry_after: str | None = None


def event_body(*, event_type: str, timestamp: dt.datetime, data: dict[str, Any]) -> bytes:
    """The exact bytes sent, and signed: build them once per attempt, never re-serialise."""
    envelope = {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def sign(*, secrets: list[str], webhook_id: str, timestamp: dt.datetime, body: bytes) -> str:
    """One `v1,<sig>` per active secret, space-separated (the Standard Webhooks format)."""
    return " ".join(Webhook(secret).sign(webhook_id, timestamp, body.decode()) for secret in secrets)


_per_thread = threading.local()


def _session() -> requests.Session:
    """This thread's hardened session, kept across deliveries so a receiver's keep-alive
    connection is reused (a new TLS handshake per delivery was most of an attempt's cost).

    Per thread: a requests Session is not thread-safe, and a worker sends from
    several threads (or forked processes, which each start with none). Rebuilt
    when the loopback setting changes, so tests and local development can
    switch it without restarting a worker. The address check still runs on
    every new connection; a reused one goes to the address already checked.
    """
    allow_loopback = settings.WEBHOOKS_ALLOW_LOOPBACK
    session = getattr(_per_thread, "session", None)
    if session is None or _per_thread.allow_loopback != allow_loopback:
        if session is not None:
            session.close()
        config = Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=allow_loopback,
            never_redirect=True,
            default_timeout=TIMEOUT,
            user_agent_override=USER_AGENT,
        )
        session = Manager(config).get_session()
        # No HTTP(S)_PROXY from the environment: the address check must apply to the receiver.
        session.trust_env = False
        _per_thread.session, _per_thread.allow_loopback = session, allow_loopback
    return session


def send(*, url: str, secrets: list[str], webhook_id: str, body: bytes) -> SendResult:
    """POST body to url, signed with a fresh timestamp. Never raises for network trouble."""
    timestamp = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": sign(secrets=secrets, webhook_id=webhook_id, timestamp=timestamp, body=body),
    }
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        response = _session().post(url, data=body, headers=headers, timeout=TIMEOUT, stream=True)
        try:
            raw = response.raw.read(EXCERPT_CHARS * 4, decode_content=True) or b""
        finally:
            # A body read to its end has already given the connection back to the pool
            # (urllib3 does so at EOF); a longer one is not drained: its connection is closed.
            response.close()
    except InvalidIPAddress as exc:
        return SendResult(None, elapsed(), error=f"Refused: {exc} is not a public address.")
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
        return SendResult(None, elapsed(), error=f"Invalid URL: {exc}"[:500])
    except requests.Timeout:
        return SendResult(None, elapsed(), error="Timed out.", retryable_error=True)
    except requests.RequestException as exc:
        return SendResult(None, elapsed(), error=f"Connection error: {exc}"[:500], retryable_error=True)
    return SendResult(
        response.status_code,
        elapsed(),
        excerpt=raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS],
        retry_after=response.headers.get("Retry-After"),
    )


def validate_url(url: str) -> None:
    """Refuse a URL whose host is not a public address (save-time check; send time checks again).

    A name that does not resolve now is accepted: DNS may be set up later, and
    the check at connect time is the one that counts.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Use an http:// or https:// URL with a host name.", code="invalid")
    host = parts.hostname
    literal = _ip_literal(host)
    if literal is not None and literal.version == 6 and literal.ipv4_mapped is not None:
        # Checked as the IPv4 address it stands for: the resolver may not take a mapped literal.
        host = str(literal.ipv4_mapped)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError("The port is not a number between 0 and 65535.", code="invalid") from None
    try:
        filter_host(host, port, allow_loopback=settings.WEBHOOKS_ALLOW_LOOPBACK)
    except InvalidIPAddress as exc:
        raise ValidationError(_refusal(str(exc)), code="forbidden_address") from None
    except requests.RequestException:
        if literal is not None:
            raise ValidationError(_refusal(str(literal)), code="forbidden_address") from None


def _refusal(address: str) -> str:
    allowed = "a public or loopback address" if settings.WEBHOOKS_ALLOW_LOOPBACK else "a public address"
    return f"This URL points at {address}, which is not {allowed}."


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
