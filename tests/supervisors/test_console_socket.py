"""The console websocket against the real ASGI application and a real Redis channel layer."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from escalations import fanout, services
from escalations import selectors as escalation_selectors
from escalations.models import Event
from supervisors import consumers
from supervisors.models import Role
from tests import factories
from tests.supervisors.conftest import console_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def billing(db):
    team = factories.make_team("Billing")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    conversation = factories.make_conversation(factories.make_agent(team, "Billing Bot"))
    return team, ana, conversation


@pytest.fixture
def legal(db):
    team = factories.make_team("Legal")
    conversation = factories.make_conversation(factories.make_agent(team, "Legal Bot"))
    return team, conversation


async def receive(socket, timeout: float = 5.0) -> dict:
    """The next message that is not a presence update (those come on every connect and leave)."""
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        if message["type"] != "presence":
            return message


async def assert_nothing_more(socket, timeout: float = 0.5) -> None:
    # receive_nothing, not a receive that times out: a timed-out receive cancels the application.
    while not await socket.receive_nothing(timeout=timeout):
        message = await socket.receive_json_from()
        assert message["type"] == "presence", message


def event_ids(messages) -> list[int]:
    return [message["id"] for message in messages if message["type"] == "event"]


def test_a_member_receives_the_events_of_their_team_as_they_commit(billing):
    team, ana, conversation = billing
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        connected, _ = await socket.connect()
        assert connected
        escalation = await database_sync_to_async(factories.open_escalation)(conversation)
        created = await receive(socket)
        await database_sync_to_async(services.claim)(escalation_id=escalation.pk, user=ana)
        claimed = await receive(socket)
        await socket.disconnect()
        return escalation, created, claimed

    escalation, created, claimed = async_to_sync(scenario)()

    events = list(Event.objects.filter(escalation=escalation).order_by("id"))
    assert created == {
        "type": "event",
        "id": events[0].id,
        "event_type": "escalation.created",
        "escalation_id": escalation.pk,
        "team_id": team.pk,
        "created_at": events[0].created_at.isoformat(),
        "data": events[0].payload,
    }
    assert (claimed["id"], claimed["event_type"]) == (events[1].id, "escalation.claimed")
    assert claimed["data"]["escalation"]["claimed_by"] == "ana"


def test_another_teams_events_never_reach_the_socket_live_or_by_replay(billing, legal):
    _, ana, _ = billing
    _, legal_conversation = legal
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(factories.open_escalation)(legal_conversation)
        await assert_nothing_more(socket)
        await socket.send_json_to({"type": "resume", "after": 0})
        resumed = await receive(socket)
        await socket.disconnect()
        return resumed

    assert async_to_sync(scenario)() == {"type": "resumed", "last_id": 0}
    assert Event.objects.count() == 1


def test_a_superuser_receives_every_teams_events(billing, legal):
    _, legal_conversation = legal
    cookie = session_cookie(factories.make_user("root", superuser=True))

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(factories.open_escalation)(legal_conversation)
        message = await receive(socket)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)()["event_type"] == "escalation.created"


async def connect_then_close_code(socket) -> tuple[bool, int | None]:
    """Whether the handshake was accepted, and the close code that followed at once."""
    connected, _ = await socket.connect()
    closed = await socket.receive_output(timeout=5)
    assert closed["type"] == "websocket.close", closed
    return connected, closed.get("code")


def test_an_anonymous_socket_is_accepted_then_closed_with_4401_so_the_page_can_tell(db):
    """A close before accept would be an HTTP 403 at the handshake: a bare network error to the page."""

    async def scenario():
        return await connect_then_close_code(console_socket())

    assert async_to_sync(scenario)() == (True, consumers.CLOSE_UNAUTHENTICATED)


def test_an_inactive_users_session_is_refused(billing):
    _, ana, _ = billing
    cookie = session_cookie(ana)
    ana.is_active = False
    ana.save(update_fields=["is_active"])

    async def scenario():
        return await connect_then_close_code(console_socket(cookie=cookie))

    assert async_to_sync(scenario)() == (True, consumers.CLOSE_UNAUTHENTICATED)


def test_a_foreign_origin_is_refused_even_with_a_valid_session(billing):
    _, ana, _ = billing
    cookie = session_cookie(ana)

    async def scenario():
        return await console_socket(cookie=cookie, origin="https://evil.example").connect()

    connected, _ = async_to_sync(scenario)()
    assert not connected


@pytest.mark.parametrize("origin", ["http://127.0.0.1:9000", "http://localhost:8000", "http://localhost"])
def test_a_same_origin_page_on_localhost_or_127_0_0_1_on_any_port_connects(billing, origin):
    _, ana, _ = billing
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie, origin=origin)
        connected, _ = await socket.connect()
        await socket.disconnect()
        return connected

    assert async_to_sync(scenario)()


def test_resume_replays_exactly_the_missed_events_in_order_then_resumed(billing):
    _, ana, conversation = billing
    escalation = factories.open_escalation(conversation)
    services.claim(escalation_id=escalation.pk, user=ana)
    services.release(escalation_id=escalation.pk, user=ana)
    first, *missed = Event.objects.order_by("id").values_list("id", flat=True)
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "resume", "after": first})
        messages = [await receive(socket) for _ in range(len(missed) + 1)]
        await assert_nothing_more(socket)
        await socket.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    assert event_ids(messages) == missed
    assert [m["event_type"] for m in messages[:-1]] == ["escalation.claimed", "escalation.released"]
    assert messages[-1] == {"type": "resumed", "last_id": missed[-1]}


def test_resume_with_nothing_missed_answers_resumed_with_the_same_id(billing):
    _, ana, conversation = billing
    factories.open_escalation(conversation)
    last = Event.objects.get().id
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "resume", "after": last})
        message = await receive(socket)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "resumed", "last_id": last}


def test_too_many_missed_events_answer_reload_instead_of_a_replay(billing, monkeypatch):
    _, ana, conversation = billing
    monkeypatch.setattr(consumers, "REPLAY_LIMIT", 2)
    escalation = factories.open_escalation(conversation)
    services.claim(escalation_id=escalation.pk, user=ana)
    services.release(escalation_id=escalation.pk, user=ana)
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "resume", "after": 0})
        message = await receive(socket)
        await assert_nothing_more(socket)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "reload"}


def test_an_event_committed_during_a_resume_is_delivered_exactly_once_and_in_order(billing, monkeypatch):
    """One event commits (and is broadcast) just before the replay's query, so it is both replayed
    and queued live; another commits just after the query, so only the live stream carries it."""
    _, ana, conversation = billing
    escalation = factories.open_escalation(conversation)
    original = escalation_selectors.events_after

    def events_after_with_commits_around_the_query(**kwargs):
        services.claim(escalation_id=escalation.pk, user=ana)
        events = original(**kwargs)
        services.release(escalation_id=escalation.pk, user=ana)
        return events

    monkeypatch.setattr(escalation_selectors, "events_after", events_after_with_commits_around_the_query)
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "resume", "after": 0})
        messages = [await receive(socket) for _ in range(4)]
        await assert_nothing_more(socket)
        await socket.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    created, claimed, released = Event.objects.order_by("id").values_list("id", flat=True)
    assert [(m["type"], m.get("id") or m.get("last_id")) for m in messages] == [
        ("event", created),
        ("event", claimed),
        ("resumed", claimed),
        ("event", released),
    ]


def test_resume_does_not_repeat_an_event_already_delivered_live_on_this_socket(billing):
    _, ana, conversation = billing
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await database_sync_to_async(factories.open_escalation)(conversation)
        live = await receive(socket)
        await socket.send_json_to({"type": "resume", "after": 0})
        resumed = await receive(socket)
        await assert_nothing_more(socket)
        await socket.disconnect()
        return live, resumed

    live, resumed = async_to_sync(scenario)()
    assert resumed == {"type": "resumed", "last_id": live["id"]}


def test_bad_client_messages_get_an_error_and_the_socket_stays_open(billing):
    _, ana, _ = billing
    cookie = session_cookie(ana)
    bad = [
        ("text", "not json"),
        ("json", ["resume"]),
        ("json", {"type": "dance"}),
        ("json", {"no": "type"}),
        ("json", {"type": "resume", "after": "12"}),
        ("json", {"type": "resume", "after": True}),
        ("json", {"type": "resume", "after": -1}),
        ("json", {"type": "resume"}),
        ("bytes", b"\x00\x01"),
    ]

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        answers = []
        for kind, payload in bad:
            if kind == "text":
                await socket.send_to(text_data=payload)
            elif kind == "bytes":
                await socket.send_to(bytes_data=payload)
            else:
                await socket.send_json_to(payload)
            answers.append(await receive(socket))
        await socket.send_json_to({"type": "ping"})
        pong = await receive(socket)
        await socket.disconnect()
        return answers, pong

    answers, pong = async_to_sync(scenario)()
    assert [answer["type"] for answer in answers] == ["error"] * len(bad)
    assert all(answer["message"] for answer in answers)
    assert pong == {"type": "pong"}


def test_sockets_of_one_process_share_their_teams_subscription_until_the_last_one_leaves(billing):
    """escalations/fanout.py: one subscription per team and process, fed to every local socket."""
    team, ana, conversation = billing
    bob = factories.make_user("bob")
    factories.add_member(bob, team, Role.SUPERVISOR)
    ana_cookie, bob_cookie = session_cookie(ana), session_cookie(bob)

    async def scenario():
        ana_socket, bob_socket = console_socket(cookie=ana_cookie), console_socket(cookie=bob_cookie)
        assert (await ana_socket.connect())[0]
        assert (await bob_socket.connect())[0]
        fan_out = fanout.team_fan_out()
        listening_while_both = len(fan_out.listeners[team.pk])
        first = await database_sync_to_async(factories.open_escalation)(conversation)
        both_got = [(await receive(socket))["escalation_id"] for socket in (ana_socket, bob_socket)]
        await bob_socket.disconnect()
        second_conversation = await database_sync_to_async(factories.make_conversation)(conversation.agent)
        second = await database_sync_to_async(factories.open_escalation)(second_conversation)
        ana_still_got = (await receive(ana_socket))["escalation_id"]
        await ana_socket.disconnect()
        return first, second, listening_while_both, both_got, ana_still_got, dict(fan_out.listeners)

    first, second, listening_while_both, both_got, ana_still_got, listeners_after = async_to_sync(scenario)()
    assert listening_while_both == 2
    assert both_got == [first.pk, first.pk]
    assert ana_still_got == second.pk
    assert listeners_after == {}  # the last socket gone, the process no longer listens to the team


def test_a_socket_that_fails_to_take_an_event_does_not_keep_it_from_the_others(billing):
    team, ana, conversation = billing
    cookie = session_cookie(ana)

    class Broken:
        async def group_message(self, message):
            raise ConnectionError("gone")

    async def scenario():
        broken = Broken()
        await fanout.team_fan_out().join(broken, [team.pk])
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        escalation = await database_sync_to_async(factories.open_escalation)(conversation)
        received = await receive(socket)
        await socket.disconnect()
        await fanout.team_fan_out().leave(broken, [team.pk])
        return escalation, received

    escalation, received = async_to_sync(scenario)()
    assert received["escalation_id"] == escalation.pk
