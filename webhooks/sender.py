"""The one module that makes outbound HTTP calls. Tests patch it here, or point it at a local receiver.

Safety: requests-hardened's filter resolves the host and refuses private,
loopback, link-local, CGNAT, metadata and IPv4-mapped addresses; the request
then goes to the address it checked (the name only in the Host header and,
for https, in SNI and the certificate check), so a DNS answer cannot change
between check and connect. Redirects are never followed (a 3xx is a
failure): following one would send the signed body to a URL nobody validated.

urllib3 directly, not requests-hardened's requests session: the session
cost ~1.3 ms more CPU per POST (cookies, hooks, settings merged per request;
bench/README.md, webhooks), most of a delivery's budget. What its adapter did
around the filter is `_pool` below.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
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
# Receivers a worker thread keeps a keep-alive connection to (least recently used dropped first).
KEPT_POOLS = 50


def _pools() -> urllib3.PoolManager:
    """This thread's connection pools, kept across deliveries so a receiver's keep-alive
    connection is reused (a new TLS handshake per delivery would be most of an attempt's cost).

    Per thread, one connection per receiver: a worker sends from several
    threads (or forked processes, which each start with none). No proxy from
    the environment: the address check must apply to the receiver itself.
    """
    pools = getattr(_per_thread, "pools", None)
    if pools is None:
        pools = _per_thread.pools = urllib3.PoolManager(num_pools=KEPT_POOLS, maxsize=1)
    return pools


_tls_context: ssl.SSLContext | None = None


def _verified_tls() -> ssl.SSLContext:
    """Certificates checked against the bundle requests uses (certifi), built once per process."""
    global _tls_context
    if _tls_context is None:
        context = urllib3.util.ssl_.create_urllib3_context()
        context.load_verify_locations(requests.certs.where())
        _tls_context = context
    return _tls_context


def _pool(url: str) -> tuple[urllib3.HTTPConnectionPool, str, str]:
    """The pool for the checked address of url's host, the path to request, and the Host header.

    Resolved and checked on every send, kept connections included: the pool
    is per checked address, so a name that now resolves elsewhere gets a new
    pool, and one that resolves to a refused address raises InvalidIPAddress
    before any connection is made.
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        raise requests.exceptions.InvalidURL(f"{url!r} is not an http(s) URL with a host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise requests.exceptions.InvalidURL(str(exc)) from None
    address = filter_host(host, port, allow_loopback=settings.WEBHOOKS_ALLOW_LOOPBACK)
    tls = (
        # The name, not the address, for SNI and the certificate check.
        {"ssl_context": _verified_tls(), "server_hostname": host, "assert_hostname": host}
        if scheme == "https"
        else {}
    )
    pool = _pools().connection_from_host(address, port, scheme, pool_kwargs=tls)
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None:  # as a browser sends it: the default port left out
        host_header += f":{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return pool, target, host_header


def send(*, url: str, secrets: list[str], webhook_id: str, body: bytes) -> SendResult:
    """POST body to url, signed with a fresh timestamp. Never raises for network trouble."""
    timestamp = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": sign(secrets=secrets, webhook_id=webhook_id, timestamp=timestamp, body=body),
    }
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        pool, target, headers["Host"] = _pool(url)
        response = pool.urlopen(
            "POST",
            target,
            body=body,
            headers=headers,
            retries=False,  # a failed attempt is recorded, and retried on the schedule
            redirect=False,
            timeout=TIMEOUT,
            preload_content=False,
        )
        try:
            raw = response.read(EXCERPT_CHARS * 4, decode_content=True) or b""
        finally:
            # A body read to its end has already given the connection back to the pool
            # (urllib3 does so at EOF); a longer one is not drained: its connection is closed.
            response.close()
            response.release_conn()
    except InvalidIPAddress as exc:
        return SendResult(None, elapsed(), error=f"Refused: {exc} is not a public address.")
    except requests.exceptions.InvalidURL as exc:
        return SendResult(None, elapsed(), error=f"Invalid URL: {exc}"[:500])
    except urllib3.exceptions.NewConnectionError as exc:
        # Before the timeouts: urllib3 makes a refused connection a subclass of its connect timeout.
        failure = exc
    except (urllib3.exceptions.TimeoutError, requests.Timeout):
        return SendResult(None, elapsed(), error="Timed out.", retryable_error=True)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        failure = exc
    else:
        return SendResult(
            response.status,
            elapsed(),
            excerpt=raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS],
            retry_after=response.headers.get("Retry-After"),
        )
    return SendResult(None, elapsed(), error=f"Connection error: {failure}"[:500], retryable_error=True)


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
