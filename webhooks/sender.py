"""The one module that makes outbound HTTP calls. Tests patch it here, or point it at a local receiver.

Safety: requests-hardened's filter resolves the host and refuses private,
loopback, link-local, CGNAT, metadata and IPv4-mapped addresses;
`is_forbidden_address` then checks the answer again, with the IPv4 address
inside an IPv6 one (the forms the filter lets through) held to the same rules,
at save and at send alike (`checked_address`). The request then goes to the
address it checked (the name only in the Host header and,
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
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress, filter_host
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
    address = checked_address(host, port)
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
        checked_address(host, port)
    except InvalidIPAddress as exc:
        raise ValidationError(_refusal(str(exc)), code="forbidden_address") from None
    except requests.RequestException:
        if literal is not None:
            raise ValidationError(_refusal(str(literal)), code="forbidden_address") from None


def _refusal(address: str) -> str:
    allowed = "a public or loopback address" if settings.WEBHOOKS_ALLOW_LOOPBACK else "a public address"
    message = f"This URL points at {address}, which is not {allowed}."
    if not settings.WEBHOOKS_ALLOW_LOOPBACK and _on_a_developer_machine() and _is_loopback(address):
        # A developer trying a local receiver: say how, rather than leave them reading the code.
        message += (
            " To allow this machine's own addresses while developing, set WEBHOOKS_ALLOW_LOOPBACK=true."
        )
    return message


def _on_a_developer_machine() -> bool:
    """DEBUG, or the demo seeded (its credentials file exists): not a production server."""
    from escalations.demo import credentials_path  # demo imports the services; only needed here

    return settings.DEBUG or credentials_path().exists()


def _is_loopback(address: str) -> bool:
    ip = _ip_literal(address.split(" ", 1)[0])
    if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and ip.is_loopback


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# IPv6 forms that carry an IPv4 address in their last 32 bits. A connection to one
# goes wherever a translator or tunnel on the path takes it (a NAT64 gateway, a
# host's IPv4-compatible route), so it is held to the IPv4 address's rules.
_LAST_32_BITS = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated by RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, the well-known prefix (RFC 6052)
)
# Refused whatever they carry: local-use NAT64 (RFC 8215; its IPv4 address may sit at
# several offsets, and it is local by definition) and Teredo (obsolete; the client's
# IPv4 is XORed, and the packet goes to whatever relay is nearest). Python's is_private
# covers Teredo (2001::/23) and requests-hardened the first: listed so the rule does not
# hang on either. requests-hardened also refuses the NAT64 and 6to4 prefixes whole;
# unwrapping them below keeps the rule should it ever let a public IPv4 inside through.
_ALWAYS_REFUSED = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("2001::/32"),
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for or tunnels to, if it is of such a form."""
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:aabb:ccdd::/48, 6to4 (RFC 3056)
        return ip.sixtofour
    if ip.teredo is not None:  # 2001:0::/32: (server, client), the client's bits un-XORed
        return ip.teredo[1]
    if any(ip in network for network in _LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> bool:
    """Whether a webhook may not connect to ip: requests-hardened's rules, applied to the
    IPv4 address inside an IPv6 one as well.

    allow_loopback admits this machine's own loopback (127/8, ::1, ::ffff:127.x), not an
    IPv4 loopback tunnelled or translated elsewhere.
    """
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the very IPv4 address: the kernel connects to it over IPv4
    if allow_loopback and ip.is_loopback:
        return False
    if ip.is_private or ip.is_multicast or any(ip in network for network in EXTRA_BLOCKED_NET_RANGES):
        return True
    if ip.version == 4:
        return False
    if any(ip in network for network in _ALWAYS_REFUSED):
        return True
    inner = embedded_ipv4(ip)
    return inner is not None and is_forbidden_address(inner, allow_loopback=False)


def checked_address(host: str, port: int) -> str:
    """The address to connect to for host (bracketed if IPv6), or InvalidIPAddress.

    One resolution: requests-hardened's filter resolves and applies its rules,
    and the address it returns is checked again here. The same function at save
    and at connect time, so the two cannot disagree.
    """
    allow_loopback = settings.WEBHOOKS_ALLOW_LOOPBACK
    literal = _ip_literal(host)
    # A literal needs no resolver to be judged (and some resolvers refuse the rarer forms).
    if literal is not None and is_forbidden_address(literal, allow_loopback=allow_loopback):
        raise InvalidIPAddress(_described(literal))
    address = filter_host(host, port, allow_loopback=allow_loopback)
    ip = ipaddress.ip_address(address.strip("[]"))
    if is_forbidden_address(ip, allow_loopback=allow_loopback):
        raise InvalidIPAddress(_described(ip))
    return address


def _described(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    inner = embedded_ipv4(ip) if ip.version == 6 else None
    return f"{ip} (an IPv6 form of {inner})" if inner is not None else str(ip)
