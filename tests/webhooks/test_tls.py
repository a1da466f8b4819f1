"""https receivers: the POST goes to the address that was checked, while SNI, the certificate check
and the Host header use the URL's name. A real TLS receiver with a throw-away CA (trustme)."""

import socket
import ssl

import pytest
import trustme
import urllib3
from pytest_httpserver import HTTPServer

from tests.webhooks.test_ssrf import fake_resolver, spy_on_connections
from webhooks import sender

NAME = "hooks.example.test"


@pytest.fixture
def ca(monkeypatch) -> trustme.CA:
    """A CA the sender trusts for this test (instead of the certifi bundle)."""
    ca = trustme.CA()
    context = urllib3.util.ssl_.create_urllib3_context()
    ca.configure_trust(context)
    monkeypatch.setattr(sender, "_tls_context", context)
    return ca


def tls_receiver(ca: trustme.CA, certificate_for: str, server_names: list) -> HTTPServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(certificate_for).configure_cert(context)
    context.sni_callback = lambda _socket, name, _context: server_names.append(name)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    return server


@pytest.fixture
def name_resolves_to_loopback(loopback_allowed, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({NAME: "127.0.0.1"}))


def send(port: int) -> sender.SendResult:
    return sender.send(
        url=f"https://{NAME}:{port}/hook?v=1",
        secrets=["whsec_" + "A" * 43 + "="],
        webhook_id="msg_1",
        body=b"{}",
    )


def test_an_https_receiver_gets_its_name_for_sni_and_host_on_a_connection_to_the_checked_address(
    ca, name_resolves_to_loopback, monkeypatch
):
    server_names: list[str] = []
    server = tls_receiver(ca, NAME, server_names)
    try:
        server.expect_request("/hook", query_string="v=1").respond_with_data("ok")
        connections = spy_on_connections(monkeypatch)

        result = send(server.port)

        assert (result.status_code, result.excerpt) == (200, "ok")
        (request, _response) = server.log[0]
        assert request.headers["Host"] == f"{NAME}:{server.port}"
        assert server_names == [NAME]
        assert connections == [("127.0.0.1", server.port)]
    finally:
        server.stop()


def test_a_certificate_for_another_name_is_refused_before_anything_is_sent(
    ca, name_resolves_to_loopback, monkeypatch
):
    server = tls_receiver(ca, "elsewhere.example.test", [])
    try:
        server.expect_request("/hook").respond_with_data("ok")

        result = send(server.port)

        assert result.status_code is None
        assert result.error.startswith("Connection error:")
        assert "certificate" in result.error.lower() or "hostname" in result.error.lower()
        assert server.log == []
    finally:
        server.stop()
