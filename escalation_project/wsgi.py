"""WSGI entry point for gunicorn: the production `web` process (Procfile, compose.yaml).

It serves the sync requests: the API, the console, the admin, static files, /healthz,
/metrics. The websocket (/ws/), the API's long-poll, /readyz (async views) and the MCP
server (/mcp/) are the `realtime` process's (daphne, escalation_project.asgi); the proxy in front routes
by path (deploy/nginx.conf). Why two servers (issue 17, bench/README.md): under daphne a
sync request crosses between the event loop and worker threads at every middleware, the
view and the signals; gunicorn runs the whole chain on one thread, for less CPU per request
(bench/api_create.py, bench/messages.py). A long-poll, on the other hand, must not hold a
thread while it waits.
"""

from __future__ import annotations

import gc
import ipaddress
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")


class ForwardedFor:
    """REMOTE_ADDR from X-Forwarded-For when the peer is a trusted proxy, as `daphne
    --proxy-headers` does for the realtime process.

    The login lockouts and the anonymous rate limit key on REMOTE_ADDR (settings: axes,
    NUM_PROXIES = 0); behind the proxy it would otherwise be the proxy's address for every
    client. Trusted peers are gunicorn's own: FORWARDED_ALLOW_IPS (comma-separated
    addresses or networks, "*" for any; default loopback), the variable gunicorn reads to
    trust X-Forwarded-Proto. The proxy must set the header to the address it saw, not
    append to one the client sent (deploy/nginx.conf sets it to $remote_addr).
    """

    def __init__(self, app, allowed: str | None = None) -> None:
        self.app = app
        allowed = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1") if allowed is None else allowed
        entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
        self.any_peer = "*" in entries
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*"]

    def _trusted(self, peer: str) -> bool:
        if self.any_peer:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False  # a unix socket's peer has no address
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded and self._trusted(environ.get("REMOTE_ADDR", "")):
            # The first entry, as daphne takes it: the proxy set the header to the client's address.
            environ["REMOTE_ADDR"] = forwarded.split(",", 1)[0].strip()
        return self.app(environ, start_response)


application = ForwardedFor(get_wsgi_application())

# What startup built lives as long as the worker: out of the collector's sight, as in asgi.py.
gc.freeze()
