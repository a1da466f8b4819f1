"""Private, loopback, link-local, CGNAT and metadata addresses: refused at save and at send."""

import socket

import pytest
from django.core.exceptions import ValidationError
from urllib3.util import connection as urllib3_connection

from tests.webhooks.conftest import deliveries_of, open_escalation
from webhooks import sender, services
from webhooks.models import Delivery, Endpoint

LOOPBACK = ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]"]
NEVER = ["0.0.0.0", "169.254.169.254", "100.64.0.1", "10.0.0.1"]


@pytest.mark.parametrize("host", LOOPBACK + NEVER)
def test_each_listed_address_is_refused_at_save(team, host):
    with pytest.raises(ValidationError) as refused:
        services.endpoint_create(team=team, url=f"http://{host}:8080/hook")

    assert "not a public address" in str(refused.value.message_dict["url"])
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("host", NEVER)
def test_allowing_loopback_still_refuses_everything_else_at_save(team, loopback_allowed, host):
    with pytest.raises(ValidationError):
        services.endpoint_create(team=team, url=f"http://{host}:8080/hook")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001"])
def test_allowing_loopback_accepts_loopback_at_save(team, loopback_allowed, host):
    assert services.endpoint_create(team=team, url=f"http://{host}:8080/hook").pk


@pytest.mark.parametrize("host", LOOPBACK + NEVER)
def test_each_listed_address_is_refused_at_send_without_a_connection(httpserver, team, host, monkeypatch):
    # The receiver listens on loopback, where 127.x and 0.0.0.0 would reach it.
    delivery, connections = attempt_behind_the_validations_back(
        team, f"http://{host}:{httpserver.port}/hook", monkeypatch
    )

    assert delivery.status == "failed"
    assert delivery.last_error.startswith(("Refused", "Connection error: Failed to resolve"))
    assert httpserver.log == []
    assert connections == []


def attempt_behind_the_validations_back(team, url: str, monkeypatch) -> tuple[Delivery, list]:
    """One delivery attempt to url, saved unchecked (say, before a rule changed);
    returns the delivery as it then stands and the connections urllib3 opened."""
    endpoint = Endpoint.objects.create(team=team, url=url, secret=services.generate_secret())
    connections = spy_on_connections(monkeypatch)
    open_escalation(team)
    delivery = deliveries_of(endpoint)[-1]
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery, connections


def spy_on_connections(monkeypatch) -> list:
    """Records every outbound connection urllib3 (under requests) opens."""
    connections: list = []
    real = urllib3_connection.create_connection

    def create_connection(address, *args, **kwargs):
        connections.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3_connection, "create_connection", create_connection)
    return connections


def test_the_connection_spy_sees_an_allowed_connection(receiver, team, monkeypatch):
    # Guards the tests above: an empty list there means no connection, not a blind spy.
    receiver.expect_request("/hook").respond_with_data("ok")
    connections = spy_on_connections(monkeypatch)

    sender.send(
        url=receiver.url_for("/hook"), secrets=[services.generate_secret()], webhook_id="msg_1", body=b"{}"
    )

    assert connections == [("127.0.0.1", receiver.port)]


def fake_resolver(answers: dict[str, str]):
    """socket.getaddrinfo answering these names with these addresses (IPv4 or IPv6), others as usual."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            address = answers[host]
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    return getaddrinfo


def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time(team, monkeypatch):
    answers = {"hooks.example.com": "93.184.216.34"}
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(answers))
    endpoint = services.endpoint_create(team=team, url="http://hooks.example.com/hook")
    # DNS now answers with an internal address (rebinding).
    answers["hooks.example.com"] = "10.0.0.1"

    connections = spy_on_connections(monkeypatch)

    result = sender.send(url=endpoint.url, secrets=[endpoint.secret], webhook_id="msg_1", body=b"{}")

    assert result.status_code is None
    assert result.error == "Refused: 10.0.0.1 is not a public address."
    assert not result.retryable_error
    assert connections == []


def test_a_name_resolving_to_a_private_address_is_refused_at_save(team, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({"intranet.example.com": "192.168.1.10"}))

    with pytest.raises(ValidationError):
        services.endpoint_create(team=team, url="https://intranet.example.com/hook")


def test_a_name_that_does_not_resolve_yet_is_accepted_at_save(team, monkeypatch):
    def no_answer(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_answer)

    assert services.endpoint_create(team=team, url="https://hooks.not-yet.example/hook").pk


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost"])
def test_only_http_and_https_urls_with_a_host_are_accepted(team, url):
    with pytest.raises(ValidationError):
        services.endpoint_create(team=team, url=url)
