"""The WSGI application of the `web` process (gunicorn): Django's, and the client's address
from the proxy's X-Forwarded-For only when the peer is trusted."""

from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from escalation_project.wsgi import ForwardedFor, application


def remote_addr_seen(forwarded_for: str | None, *, peer: str, allowed: str) -> str:
    seen = {}

    def app(environ, start_response):
        seen["address"] = environ["REMOTE_ADDR"]
        return []

    environ = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded_for
    ForwardedFor(app, allowed=allowed)(environ, None)
    return seen["address"]


def test_a_trusted_proxy_gives_the_client_address():
    assert remote_addr_seen("203.0.113.9", peer="127.0.0.1", allowed="127.0.0.1,::1") == "203.0.113.9"
    assert remote_addr_seen("203.0.113.9, 10.0.0.2", peer="::1", allowed="127.0.0.1,::1") == "203.0.113.9"
    assert remote_addr_seen("203.0.113.9", peer="172.18.0.5", allowed="172.18.0.0/16") == "203.0.113.9"
    assert remote_addr_seen("203.0.113.9", peer="172.18.0.5", allowed="*") == "203.0.113.9"


def test_any_other_peer_keeps_its_own_address():
    """A client talking to gunicorn directly cannot pick the address its login failures count under."""
    assert remote_addr_seen("203.0.113.9", peer="198.51.100.7", allowed="127.0.0.1,::1") == "198.51.100.7"
    assert remote_addr_seen("203.0.113.9", peer="198.51.100.7", allowed="") == "198.51.100.7"
    assert remote_addr_seen("203.0.113.9", peer="", allowed="127.0.0.1") == ""  # a unix socket
    assert remote_addr_seen(None, peer="127.0.0.1", allowed="*") == "127.0.0.1"


def get(path: str, **headers: str) -> str:
    environ = {"PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", **headers}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = status

    body = application(environ, start_response)
    try:
        b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return answer["status"]


@pytest.fixture
def keep_the_test_connection():
    """The handler closes the database connection around each request; the test's transaction
    lives on it (Django's test client disconnects the same two receivers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_the_application_answers_through_django_with_the_forwarded_address(keep_the_test_connection):
    """/metrics answers loopback only (METRICS_ALLOWED_NETWORKS): from the proxy on loopback
    it answers; for a client the proxy names, Django sees that client and refuses."""
    assert get("/healthz") == "200 OK"
    assert get("/metrics") == "200 OK"
    assert get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9") == "403 Forbidden"
