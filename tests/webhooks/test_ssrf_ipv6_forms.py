"""IPv6 addresses that carry an IPv4 one: judged by the IPv4 address inside, at save and at connect time.

requests-hardened unwraps only the IPv4-mapped form (::ffff:a.b.c.d); the
IPv4-compatible (::a.b.c.d) and IPv4-translated (::ffff:0:a.b.c.d) forms
passed its check as "global", so such a URL was saved and the worker tried to
connect. A listener on 127.0.0.1 and on [::1] proves no connection arrives;
on Linux these forms do not route to loopback anyway, so the refusal itself
(an error saying "Refused", not a connection error, and no connect() at all)
is what the connect-time tests check.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from supervisors.models import Role
from tests import factories
from tests.webhooks.test_ssrf import attempt_behind_the_validations_back, fake_resolver, spy_on_connections
from webhooks import sender, services
from webhooks.models import Endpoint

# The four, as an attacker writes them in a URL.
REPORTED = ["::7f00:1", "::a9fe:a9fe", "::a00:1", "::ffff:0:127.0.0.1"]
# The same idea through translators and tunnels, each carrying a non-public IPv4.
TUNNELLED = [
    "::ffff:0:169.254.169.254",  # IPv4-translated, the metadata service
    "::100.64.0.1",  # IPv4-compatible, CGNAT
    "::ffff:10.0.0.1",  # IPv4-mapped (refused before this change too)
    "64:ff9b::10.0.0.1",  # NAT64, well-known prefix
    "64:ff9b::127.0.0.1",
    "64:ff9b:1::a00:1",  # NAT64, local-use prefix
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1 (XORed)
]
FORMS = REPORTED + TUNNELLED
# What they carry, where it can be read back.
INSIDE = {"::7f00:1": "127.0.0.1", "::a9fe:a9fe": "169.254.169.254", "::a00:1": "10.0.0.1",
          "::ffff:0:127.0.0.1": "127.0.0.1", "64:ff9b::10.0.0.1": "10.0.0.1",
          "2002:a9fe:a9fe::1": "169.254.169.254",
          "2001:0:4136:e378:8000:63bf:f5ff:fffe": "10.0.0.1"}  # fmt: skip


def url(address: str, port: int = 9102) -> str:
    return f"http://[{address}]:{port}/hook"


@pytest.mark.parametrize(("address", "ipv4"), INSIDE.items())
def test_the_ipv4_inside_each_form_is_read(address, ipv4):
    assert sender.embedded_ipv4(ipaddress.IPv6Address(address)) == ipaddress.IPv4Address(ipv4)


@pytest.mark.parametrize("address", FORMS)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_the_address_check_refuses_each_form(address, allow_loopback):
    # Allowing loopback admits this machine's loopback, not one behind a translator.
    assert sender.is_forbidden_address(ipaddress.ip_address(address), allow_loopback=allow_loopback)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",  # a global IPv6 address
        "::ffff:0:93.184.216.34",  # a public IPv4 inside is judged as that IPv4
        "::93.184.216.34",
    ],
)
def test_the_address_check_admits_public_addresses(address):
    assert not sender.is_forbidden_address(ipaddress.ip_address(address), allow_loopback=False)


def test_allowing_loopback_admits_this_machines_loopback_only():
    for address in ["127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1"]:
        assert not sender.is_forbidden_address(ipaddress.ip_address(address), allow_loopback=True)
        assert sender.is_forbidden_address(ipaddress.ip_address(address), allow_loopback=False)


# --- At save: the service, the API and the admin --------------------------------------------------


@pytest.mark.parametrize("address", FORMS)
def test_each_form_is_refused_at_save(team, address):
    with pytest.raises(ValidationError) as refused:
        services.endpoint_create(team=team, url=url(address))

    assert "not a public address" in str(refused.value.message_dict["url"])
    assert not Endpoint.objects.exists()


def test_the_refusal_names_the_ipv4_inside(team):
    with pytest.raises(ValidationError) as refused:
        services.endpoint_create(team=team, url=url("::7f00:1"))

    assert refused.value.message_dict["url"] == [
        "This URL points at ::7f00:1 (an IPv6 form of 127.0.0.1), which is not a public address."
    ]


@pytest.mark.parametrize("address", REPORTED + ["64:ff9b::10.0.0.1", "2002:a9fe:a9fe::1"])
def test_each_form_is_a_400_from_the_api(contributor_api, ours, address):
    response = contributor_api.post(
        "/api/v1/webhook-endpoints/", {"team": ours.team.pk, "url": url(address)}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "not a public address" in error["fields"]["url"][0]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("address", REPORTED + ["64:ff9b::10.0.0.1", "2002:a9fe:a9fe::1"])
def test_each_form_is_refused_by_the_admin_with_a_field_message(client, team, address):
    carla = factories.make_user("carla", is_staff=True)
    factories.add_member(carla, team, Role.CONTRIBUTOR)
    client.force_login(carla)

    response = client.post(
        reverse("admin:webhooks_endpoint_add"), {"team": team.pk, "url": url(address), "active": "on"}
    )

    assert response.status_code == 200
    assert "not a public address" in str(response.context["adminform"].form.errors["url"])
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("address", REPORTED)
def test_allowing_loopback_still_refuses_each_form_at_save(team, loopback_allowed, address):
    with pytest.raises(ValidationError):
        services.endpoint_create(team=team, url=url(address))


@pytest.mark.parametrize("address", REPORTED)
def test_a_name_resolving_to_a_form_is_refused_at_save(team, monkeypatch, address):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({"hooks.example.com": address}))

    with pytest.raises(ValidationError):
        services.endpoint_create(team=team, url="http://hooks.example.com/hook")


# --- At connect time: rows saved behind the validation's back, names that resolve later ----------


@contextlib.contextmanager
def loopback_listeners() -> Iterator[tuple[int, list[socket.socket]]]:
    """Listening sockets on 127.0.0.1 and [::1], one port for both; yields (port, sockets)."""
    for _ in range(20):  # the port free on 127.0.0.1 may be taken on ::1
        v4 = socket.create_server(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        try:
            v6 = socket.create_server(("::1", port), family=socket.AF_INET6)
        except OSError:
            v4.close()
            continue
        break
    else:
        raise RuntimeError("no port free on both 127.0.0.1 and ::1")
    try:
        yield port, [v4, v6]
    finally:
        v4.close()
        v6.close()


def connections_arrived(listeners: list[socket.socket]) -> int:
    # connect() returns once the kernel has queued the connection, so one made by the
    # send that has returned is already waiting here; select only looks.
    readable, _, _ = select.select(listeners, [], [], 0)
    return len(readable)


def test_the_listeners_see_a_connection_that_is_made():
    # Guards the tests below: no connection there means none was made, not a deaf listener.
    with loopback_listeners() as (port, listeners):
        for host in ["127.0.0.1", "[::1]"]:
            with socket.create_connection((host.strip("[]"), port), timeout=5):
                pass
        assert connections_arrived(listeners) == 2


@pytest.mark.parametrize("address", FORMS)
def test_each_form_is_refused_at_connect_time_without_a_connection(team, monkeypatch, address):
    with loopback_listeners() as (port, listeners):
        delivery, connections = attempt_behind_the_validations_back(team, url(address, port), monkeypatch)

        assert delivery.status == "failed"
        assert delivery.last_error.startswith("Refused: ")
        assert delivery.last_error.endswith("is not a public address.")
        assert connections == []
        assert connections_arrived(listeners) == 0


@pytest.mark.parametrize("address", REPORTED)
def test_a_name_that_now_resolves_to_a_form_is_refused_at_connect_time(team, monkeypatch, address):
    answers = {"hooks.example.com": "93.184.216.34"}
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(answers))
    endpoint = services.endpoint_create(team=team, url="http://hooks.example.com/hook")
    answers["hooks.example.com"] = address  # DNS rebinding, to an IPv6 form of an internal address
    connections = spy_on_connections(monkeypatch)

    result = sender.send(url=endpoint.url, secrets=[endpoint.secret], webhook_id="msg_1", body=b"{}")

    shown = f"{ipaddress.ip_address(address)} (an IPv6 form of {INSIDE[address]})"
    assert result.error == f"Refused: {shown} is not a public address."
    assert result.status_code is None
    assert not result.retryable_error
    assert connections == []
