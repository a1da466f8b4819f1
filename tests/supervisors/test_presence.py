"""Presence: who has a console open, per team, from live sockets in a real Redis, with expiry."""

import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from escalation_project.redis_client import shared_redis
from escalations.broadcast import team_group
from supervisors import presence
from supervisors.models import Role
from supervisors.presence import (
    PresenceAnnouncer,
    Snapshot,
    online_counts,
    online_user_ids,
    presence_join,
    presence_leave,
    presence_touch,
)
from supervisors.services import membership_set_on_duty
from tests import factories
from tests.supervisors.conftest import console_socket, session_cookie
from tests.waiting import async_wait_until

BILLING, LEGAL = 1, 2


def test_a_joined_socket_counts_its_user_online():
    presence_join(team_ids=[BILLING], user_id=7, connection_id="tab-a")

    assert online_user_ids(BILLING) == {7}
    assert online_counts([BILLING, LEGAL]) == {BILLING: 1, LEGAL: 0}


def test_a_left_socket_no_longer_counts():
    presence_join(team_ids=[BILLING, LEGAL], user_id=7, connection_id="tab-a")
    presence_leave(team_ids=[BILLING, LEGAL], user_id=7, connection_id="tab-a")

    assert online_user_ids(BILLING) == set()
    assert online_counts([BILLING, LEGAL]) == {BILLING: 0, LEGAL: 0}


def test_two_tabs_of_one_user_count_once_and_closing_one_keeps_them_online():
    presence_join(team_ids=[BILLING], user_id=7, connection_id="tab-a")
    presence_join(team_ids=[BILLING], user_id=7, connection_id="tab-b")
    presence_join(team_ids=[BILLING], user_id=8, connection_id="tab-c")
    assert online_counts([BILLING]) == {BILLING: 2}

    presence_leave(team_ids=[BILLING], user_id=7, connection_id="tab-a")
    assert online_user_ids(BILLING) == {7, 8}


def test_an_entry_without_a_recent_heartbeat_is_not_counted(settings):
    """A killed browser never says goodbye: its last heartbeat ages out."""
    stale = time.time() - settings.PRESENCE_TTL_SECONDS - 1
    shared_redis().zadd(presence._key(BILLING), {"7:killed-tab": stale})
    presence_join(team_ids=[BILLING], user_id=8, connection_id="tab-c")

    assert online_user_ids(BILLING) == {8}
    assert online_counts([BILLING]) == {BILLING: 1}


def test_a_heartbeat_brings_a_stale_socket_back(settings):
    stale = time.time() - settings.PRESENCE_TTL_SECONDS - 1
    shared_redis().zadd(presence._key(BILLING), {"7:tab-a": stale})

    presence_touch(team_ids=[BILLING], user_id=7, connection_id="tab-a")

    assert online_user_ids(BILLING) == {7}


def test_teams_are_counted_apart():
    presence_join(team_ids=[BILLING], user_id=7, connection_id="tab-a")

    assert online_user_ids(LEGAL) == set()


@pytest.fixture
def billing_supervisors(transactional_db):
    team = factories.make_team("Billing")
    ana, bob = factories.make_user("ana"), factories.make_user("bob")
    factories.add_member(ana, team, Role.SUPERVISOR)
    factories.add_member(bob, team, Role.SUPERVISOR)
    return team, ana, bob


async def next_presence(socket) -> dict:
    while True:
        message = await socket.receive_json_from(timeout=5)
        if message["type"] == "presence":
            return message


def test_an_open_socket_is_online_and_its_team_hears_of_arrivals_and_departures(billing_supervisors):
    team, ana, bob = billing_supervisors
    ana_cookie, bob_cookie = session_cookie(ana), session_cookie(bob)

    async def scenario():
        ana_socket = console_socket(cookie=ana_cookie)
        assert (await ana_socket.connect())[0]
        first = await next_presence(ana_socket)
        bob_socket = console_socket(cookie=bob_cookie)
        assert (await bob_socket.connect())[0]
        arrival = await next_presence(ana_socket)
        online_while_both = online_user_ids(team.pk)
        await bob_socket.disconnect()
        departure = await next_presence(ana_socket)
        await ana_socket.disconnect()
        return first, arrival, online_while_both, departure

    first, arrival, online_while_both, departure = async_to_sync(scenario)()
    # No agent of the team can escalate, so it is never uncovered (see the test after next).
    assert first == {"type": "presence", "team_id": team.pk, "online": 1, "uncovered": False}
    assert arrival == {"type": "presence", "team_id": team.pk, "online": 2, "uncovered": False}
    assert online_while_both == {ana.pk, bob.pk}
    assert departure == {"type": "presence", "team_id": team.pk, "online": 1, "uncovered": False}
    assert online_user_ids(team.pk) == set()


def test_each_announcement_says_whether_the_team_is_uncovered_as_of_then(billing_supervisors):
    """ben alone online, off duty, read "uncovered" until a reload: the page now hears it live."""
    team, ana, bob = billing_supervisors
    factories.make_agent(team, "Billing Bot")  # the team can escalate
    team.memberships.filter(user=bob).update(on_duty=False)
    ana_cookie, bob_cookie = session_cookie(ana), session_cookie(bob)

    async def scenario():
        bob_socket = console_socket(cookie=bob_cookie)
        assert (await bob_socket.connect())[0]
        alone = await next_presence(bob_socket)  # online, but not on duty: nobody covers
        ana_socket = console_socket(cookie=ana_cookie)
        assert (await ana_socket.connect())[0]
        covered = await next_presence(bob_socket)
        await ana_socket.disconnect()
        left = await next_presence(bob_socket)
        await bob_socket.disconnect()
        return alone, covered, left

    alone, covered, left = async_to_sync(scenario)()
    assert alone == {"type": "presence", "team_id": team.pk, "online": 1, "uncovered": True}
    assert covered == {"type": "presence", "team_id": team.pk, "online": 2, "uncovered": False}
    assert left == {"type": "presence", "team_id": team.pk, "online": 1, "uncovered": True}


def test_going_on_duty_is_announced_with_the_coverage_it_brings(billing_supervisors):
    """Nobody arrives or leaves, yet the team is covered from now on: its pages hear it."""
    team, ana, bob = billing_supervisors
    factories.make_agent(team, "Billing Bot")
    team.memberships.update(on_duty=False)
    cookie = session_cookie(ana)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        before = await next_presence(socket)
        await sync_to_async(membership_set_on_duty)(user=ana, on_duty=True)
        after = await next_presence(socket)
        await socket.disconnect()
        return before, after

    before, after = async_to_sync(scenario)()
    assert before == {"type": "presence", "team_id": team.pk, "online": 1, "uncovered": True}
    assert after == {"type": "presence", "team_id": team.pk, "online": 1, "uncovered": False}


def test_a_ping_refreshes_the_sockets_heartbeat(billing_supervisors):
    team, ana, _ = billing_supervisors
    cookie = session_cookie(ana)
    key = presence._key(team.pk)

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await next_presence(socket)
        (member,) = shared_redis().zrange(key, 0, -1)
        # As if the last heartbeat were long ago: the user no longer counts ...
        shared_redis().zadd(key, {member: time.time() - settings.PRESENCE_TTL_SECONDS - 1})
        before = online_user_ids(team.pk)
        await socket.send_json_to({"type": "ping"})
        pong = await socket.receive_json_from(timeout=5)
        # ... until the next ping.
        after = online_user_ids(team.pk)
        await socket.disconnect()
        return before, pong, after

    before, pong, after = async_to_sync(scenario)()
    assert before == set()
    assert pong == {"type": "pong"}
    assert after == {ana.pk}


def test_join_and_leave_return_the_teams_count_with_a_rising_version():
    joined = presence_join(team_ids=[BILLING, LEGAL], user_id=7, connection_id="tab-a")
    left = presence_leave(team_ids=[BILLING], user_id=7, connection_id="tab-a")

    assert {team: snapshot.online for team, snapshot in joined.items()} == {BILLING: 1, LEGAL: 1}
    assert left[BILLING].online == 0
    assert left[BILLING].version > joined[BILLING].version


def test_an_announcement_older_than_the_last_one_shown_is_not_forwarded(billing_supervisors):
    """Two processes announce arrivals and departures; their messages may cross on the way."""
    team, ana, _ = billing_supervisors
    cookie = session_cookie(ana)

    async def scenario():
        layer = get_channel_layer()
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        await next_presence(socket)
        version = int(shared_redis().get(f"{presence._key(team.pk)}:version"))
        for online, at in [(5, version - 1), (2, version + 1)]:
            await layer.group_send(
                team_group(team.pk),
                {"type": "presence.changed", "team_id": team.pk, "online": online, "version": at},
            )
        shown = await next_presence(socket)
        await socket.disconnect()
        return shown

    assert async_to_sync(scenario)() == {"type": "presence", "team_id": team.pk, "online": 2}


class RecordingLayer:
    """Stands in for the channel layer: what the announcer sends, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    async def group_send(self, group: str, message: dict) -> None:
        self.sent.append((group, message))


def test_changes_within_one_window_are_announced_once_with_the_newest_count(settings):
    settings.PRESENCE_ANNOUNCE_MS = 50
    layer = RecordingLayer()
    announcer = PresenceAnnouncer()

    async def scenario():
        announcer.offer(layer, BILLING, Snapshot(online=2, version=5))
        announcer.offer(layer, BILLING, Snapshot(online=3, version=7))
        announcer.offer(layer, BILLING, Snapshot(online=1, version=6))  # older, arriving late
        announcer.offer(layer, LEGAL, Snapshot(online=1, version=1))
        await async_wait_until(lambda: len(layer.sent) >= 2, message="the first window's announcements")
        first_window = list(layer.sent)
        announcer.offer(layer, BILLING, Snapshot(online=2, version=8))
        await async_wait_until(lambda: len(layer.sent) >= 3, message="the second window's announcement")
        return first_window, layer.sent[len(first_window) :]

    first_window, second_window = async_to_sync(scenario)()
    message = {"type": "presence.changed", "team_id": BILLING}
    assert first_window == [
        (team_group(BILLING), {**message, "online": 3, "version": 7}),
        (team_group(LEGAL), {"type": "presence.changed", "team_id": LEGAL, "online": 1, "version": 1}),
    ]
    # Exactly one more: a duplicate of the first window would have come before it, a window earlier.
    assert second_window == [(team_group(BILLING), {**message, "online": 2, "version": 8})]
