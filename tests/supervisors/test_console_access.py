"""A console socket keeps no more access than its user has now (issue 14, item 1).

Against the real ASGI application and a real Redis channel layer: the access changes go
through the real write paths (the logout view, the admin), whose messages reach the
socket through Redis; the backstop tests drop that message and rely on the resume.
"""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from django.urls import reverse

from escalations.models import Event
from supervisors import access, consumers
from supervisors.models import Membership, Role
from tests import factories
from tests.supervisors.conftest import console_socket, team_page_form
from tests.supervisors.test_console_socket import assert_nothing_more, event_ids, receive

pytestmark = pytest.mark.django_db(transaction=True)

# The bound: logout, deactivation, a lost membership or role close or re-scope within this.
WITHIN_SECONDS = 1.0


@pytest.fixture
def world(db):
    """ana supervises Billing and Legal; each team has an agent's conversation; root is a superuser."""
    billing, legal = factories.make_team("Billing"), factories.make_team("Legal")
    ana = factories.make_user("ana")
    factories.add_member(ana, billing, Role.SUPERVISOR)
    factories.add_member(ana, legal, Role.SUPERVISOR)
    return {
        "billing": billing,
        "legal": legal,
        "ana": ana,
        "root": factories.make_user("root", superuser=True),
        "billing_chat": factories.make_conversation(factories.make_agent(billing, "Billing Bot")),
        "legal_chat": factories.make_conversation(factories.make_agent(legal, "Legal Bot")),
    }


def signed_in(user) -> tuple[Client, str]:
    """A browser signed in as `user`, and its cookie for the socket."""
    browser = Client()
    browser.force_login(user)
    return browser, f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


async def close_code(socket, within: float = WITHIN_SECONDS) -> int:
    """The code of the close the server sends within `within` seconds; other frames are skipped."""
    deadline = time.monotonic() + within
    while True:
        output = await socket.receive_output(timeout=max(deadline - time.monotonic(), 0.001))
        if output["type"] == "websocket.close":
            return output["code"]


async def reload_within(socket, within: float = WITHIN_SECONDS) -> None:
    """Waits for the "reload" a re-scope sends (the page drops the rows of a team it lost)."""
    deadline = time.monotonic() + within
    while (await receive(socket, timeout=max(deadline - time.monotonic(), 0.001)))["type"] != "reload":
        pass


def open_escalation(conversation):
    return database_sync_to_async(factories.open_escalation)(conversation)


def as_admin(world) -> Client:
    admin, _ = signed_in(world["root"])
    return admin


def user_change_form(user, **changes) -> dict:
    """The admin's user change form as the browser posts it, with `changes`."""
    form = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    if user.is_superuser:
        form.update(is_staff="on", is_superuser="on")
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def post_admin(client: Client, url: str, data: dict) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_logging_out_closes_that_sessions_socket_within_a_second_and_not_another_sessions(world):
    ana = world["ana"]
    browser, cookie = signed_in(ana)
    _, other_cookie = signed_in(ana)  # ana on a second computer

    async def scenario():
        socket, other = console_socket(cookie=cookie), console_socket(cookie=other_cookie)
        assert (await socket.connect())[0]
        assert (await other.connect())[0]
        response = await database_sync_to_async(browser.post)(reverse("console:logout"))
        assert response.status_code == 302
        code = await close_code(socket)
        # The other session still signs ana in: its socket stays and keeps the events coming.
        escalation = await open_escalation(world["billing_chat"])
        still = await receive(other)
        await other.disconnect()
        return code, escalation, still

    code, escalation, still = async_to_sync(scenario)()
    assert code == consumers.CLOSE_UNAUTHENTICATED
    assert still["escalation_id"] == escalation.pk


def test_resume_after_a_logout_whose_message_was_lost_is_refused(world, monkeypatch):
    """The backstop: every resume checks the session, so a dropped access message costs at most
    one heartbeat, and nothing is replayed to a session that ended."""
    factories.open_escalation(world["billing_chat"])
    browser, cookie = signed_in(world["ana"])
    monkeypatch.setattr(access, "publish_soon", lambda group, message: None)  # Redis lost it

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(browser.post)(reverse("console:logout"))
        await assert_nothing_more(socket, timeout=0.2)  # no message came: still open
        await socket.send_json_to({"type": "resume", "after": 0})
        frames = []
        while (output := await socket.receive_output(timeout=5))["type"] != "websocket.close":
            frames.append(output)
        return frames, output["code"]

    frames, code = async_to_sync(scenario)()
    assert code == consumers.CLOSE_UNAUTHENTICATED
    assert not any('"type": "event"' in frame.get("text", "") for frame in frames)


def test_deactivating_a_user_in_the_admin_closes_their_socket_within_a_second(world):
    ana = world["ana"]
    _, cookie = signed_in(ana)
    admin = as_admin(world)
    page = reverse("admin:auth_user_change", args=[ana.pk])

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(post_admin)(admin, page, user_change_form(ana, is_active=None))
        return await close_code(socket)

    assert async_to_sync(scenario)() == consumers.CLOSE_UNAUTHENTICATED


def test_a_password_changed_in_the_admin_closes_the_sockets_of_sessions_signed_in_before(world):
    ana = world["ana"]
    _, cookie = signed_in(ana)
    admin = as_admin(world)
    page = reverse("admin:auth_user_password_change", args=[ana.pk])
    form = {"password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42"}

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(post_admin)(admin, page, {**form, "set_usable_password": "true"})
        return await close_code(socket)

    assert async_to_sync(scenario)() == consumers.CLOSE_UNAUTHENTICATED


def test_an_owner_removing_a_member_on_the_team_page_re_scopes_their_socket(world):
    ana, legal = world["ana"], world["legal"]
    olga = factories.make_user("olga", is_staff=True)
    factories.add_member(olga, legal, Role.OWNER)
    owner, _ = signed_in(olga)
    _, cookie = signed_in(ana)
    form = team_page_form(legal, deleted_user_ids={ana.pk})

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        page = reverse("admin:supervisors_team_change", args=[legal.pk])
        await database_sync_to_async(post_admin)(owner, page, form)
        await reload_within(socket)
        await open_escalation(world["legal_chat"])
        await assert_nothing_more(socket)
        await socket.disconnect()

    async_to_sync(scenario)()
    assert not Membership.objects.filter(user=ana, team=legal).exists()


def test_a_removed_membership_stops_that_teams_events_live_and_in_replay_and_others_flow(world):
    ana, legal = world["ana"], world["legal"]
    _, cookie = signed_in(ana)
    admin = as_admin(world)
    membership = Membership.objects.get(user=ana, team=legal)
    before = factories.open_escalation(world["legal_chat"])  # replayable while ana was in Legal

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        page = reverse("admin:supervisors_membership_delete", args=[membership.pk])
        await database_sync_to_async(post_admin)(admin, page, {"post": "yes"})
        await reload_within(socket)
        legal_chat = await database_sync_to_async(factories.make_conversation)(world["legal_chat"].agent)
        await open_escalation(legal_chat)
        billing = await open_escalation(world["billing_chat"])
        live = await receive(socket)  # Billing's; Legal's would have come first
        await assert_nothing_more(socket)
        await socket.send_json_to({"type": "resume", "after": 0})
        replay = [await receive(socket)]
        while replay[-1]["type"] != "resumed":
            replay.append(await receive(socket))
        await socket.disconnect()
        return billing, live, replay

    billing, live, replay = async_to_sync(scenario)()
    assert live["escalation_id"] == billing.pk
    billing_events = list(Event.objects.filter(team=world["billing"]).values_list("id", flat=True))
    assert event_ids(replay) == []  # Billing's one was already delivered live; Legal's are not replayed
    assert replay[-1] == {"type": "resumed", "last_id": max(billing_events)}
    assert Event.objects.filter(escalation=before).exists()


def test_losing_the_last_team_closes_the_socket_with_4403(world):
    ana = world["ana"]
    _, cookie = signed_in(ana)
    admin = as_admin(world)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        ids = await database_sync_to_async(lambda: list(ana.memberships.values_list("pk", flat=True)))()
        await database_sync_to_async(post_admin)(
            admin,
            reverse("admin:supervisors_membership_changelist"),
            {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
        )
        return await close_code(socket)

    assert async_to_sync(scenario)() == consumers.CLOSE_FORBIDDEN


def test_a_superuser_made_an_ordinary_user_is_re_scoped_to_their_own_teams(world):
    root, billing = world["root"], world["billing"]
    factories.add_member(root, billing, Role.OWNER)
    _, cookie = signed_in(root)
    admin, _ = signed_in(factories.make_user("boss", superuser=True))
    page = reverse("admin:auth_user_change", args=[root.pk])

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await open_escalation(world["legal_chat"])
        every_team = await receive(socket)
        form = user_change_form(root, is_superuser=None)
        await database_sync_to_async(post_admin)(admin, page, form)
        await reload_within(socket)
        legal_chat = await database_sync_to_async(factories.make_conversation)(world["legal_chat"].agent)
        await open_escalation(legal_chat)
        billing_escalation = await open_escalation(world["billing_chat"])
        own_team = await receive(socket)
        await assert_nothing_more(socket)
        await socket.disconnect()
        return every_team, own_team, billing_escalation

    every_team, own_team, billing_escalation = async_to_sync(scenario)()
    assert every_team["team_id"] == world["legal"].pk
    assert own_team["escalation_id"] == billing_escalation.pk


def test_a_role_change_re_checks_and_keeps_the_teams_the_role_still_sees(world, monkeypatch):
    """Every role sees its team's queue, so a role change re-checks and keeps the team."""
    ana, billing = world["ana"], world["billing"]
    _, cookie = signed_in(ana)
    admin = as_admin(world)
    membership = Membership.objects.get(user=ana, team=billing)
    page = reverse("admin:supervisors_membership_change", args=[membership.pk])
    checked = []
    original = consumers.socket_access
    monkeypatch.setattr(consumers, "socket_access", lambda **kw: checked.append(kw) or original(**kw))

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        form = {"user": ana.pk, "team": billing.pk, "role": Role.OWNER, "on_duty": "on"}
        await database_sync_to_async(post_admin)(admin, page, form)
        deadline = time.monotonic() + WITHIN_SECONDS
        while not checked and time.monotonic() < deadline:
            await socket.receive_nothing(timeout=0.02)
        escalation = await open_escalation(world["billing_chat"])
        message = await receive(socket)
        await socket.disconnect()
        return escalation, message

    escalation, message = async_to_sync(scenario)()
    assert len(checked) == 1
    assert message["escalation_id"] == escalation.pk


def test_a_membership_removed_without_a_message_is_caught_by_the_next_resume(world):
    """The backstop for memberships: a replay re-reads the teams every time."""
    ana, legal = world["ana"], world["legal"]
    factories.open_escalation(world["legal_chat"])
    _, cookie = signed_in(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(Membership.objects.filter(user=ana, team=legal).delete)()
        await socket.send_json_to({"type": "resume", "after": 0})
        replay = [await receive(socket)]
        while replay[-1]["type"] != "resumed":
            replay.append(await receive(socket))
        legal_chat = await database_sync_to_async(factories.make_conversation)(world["legal_chat"].agent)
        await open_escalation(legal_chat)
        await assert_nothing_more(socket)
        await socket.disconnect()
        return replay

    replay = async_to_sync(scenario)()
    assert [frame["type"] for frame in replay] == ["reload", "resumed"]
