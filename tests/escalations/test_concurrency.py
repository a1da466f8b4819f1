"""Supervisors racing on one escalation: the first answer wins, the rest are told who won;
and a burst of writers and readers on the embedded default (SQLite) all succeed.

Real threads, each with its own database connection, against the real
database (SQLite file in WAL mode locally, PostgreSQL in CI).
"""

import contextlib
import sqlite3
import threading
import time

import pytest
import requests
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction
from django.test import Client

from agents.keys import agent_key_create
from agents.models import Conversation, ConversationStatus, Message
from escalations import services
from escalations.models import Escalation, Event, Status
from escalations.tool_call import escalate_to_human
from supervisors.models import Role
from tests import factories
from tests.live_server import running_daphne

sqlite_only = pytest.mark.skipif(
    "sqlite" not in settings.DATABASES["default"]["ENGINE"], reason="SQLite's own locking"
)

RACERS = 16


def race(action, users):
    """Run action(user) in one thread per user, all released at once; return what each got."""
    barrier = threading.Barrier(len(users))
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(user):
        try:
            barrier.wait()
            action(user)
            outcome = ("won", user.username)
        except services.EscalationError as refusal:
            outcome = ("refused", refusal.message)
        except Exception as error:  # anything else is a defect: keep it to show in the assertion
            outcome = ("error", repr(error))
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def contest(transactional_db):
    team = factories.make_team("Billing")
    users = []
    for number in range(RACERS):
        user = factories.make_user(f"sup{number:02d}")
        factories.add_member(user, team, Role.SUPERVISOR)
        users.append(user)
    conversation = factories.make_conversation(factories.make_agent(team, "Billing Bot"))
    return factories.open_escalation(conversation), users


def assert_one_winner(outcomes, refusal_words):
    errors = [detail for kind, detail in outcomes if kind == "error"]
    winners = [detail for kind, detail in outcomes if kind == "won"]
    refusals = [detail for kind, detail in outcomes if kind == "refused"]
    assert errors == [], f"{connection.vendor}: unexpected errors {errors}"
    assert len(winners) == 1, outcomes
    assert len(refusals) == RACERS - 1
    (winner,) = winners
    assert all(refusal_words.format(winner=winner) in text for text in refusals), refusals
    return winner


def test_sixteen_simultaneous_claims_make_one_claimer(contest):
    escalation, users = contest

    outcomes = race(lambda user: services.claim(escalation_id=escalation.pk, user=user), users)

    winner = assert_one_winner(outcomes, "Already claimed by {winner} at")
    escalation.refresh_from_db()
    assert (escalation.status, escalation.claimed_by.username) == (Status.CLAIMED, winner)
    assert [row.history_user.username for row in escalation.history.filter(history_type="~")] == [winner]


def test_sixteen_simultaneous_responses_make_one_answer(contest):
    escalation, users = contest

    outcomes = race(
        lambda user: services.respond(
            escalation_id=escalation.pk, user=user, guidance=f"guidance from {user.username}"
        ),
        users,
    )

    winner = assert_one_winner(outcomes, "already resolved by {winner} at")
    escalation.refresh_from_db()
    assert escalation.status == Status.RESOLVED
    assert escalation.guidance == f"guidance from {winner}"
    assert escalation.history.filter(history_type="~").count() == 1
    assert escalation.events.filter(type="escalation.resolved").count() == 1


def test_simultaneous_triggers_on_one_conversation_make_one_card(transactional_db):
    team = factories.make_team("Billing")
    conversation = factories.make_conversation(factories.make_agent(team, "Billing Bot"))
    callers = [factories.make_user(f"caller{n}") for n in range(8)]

    outcomes = race(lambda user: factories.open_escalation(conversation, reason=user.username), callers)

    assert [kind for kind, _ in outcomes] == ["won"] * 8
    (escalation,) = Escalation.objects.filter(conversation=conversation)
    assert escalation.events.filter(type="escalation.created").count() == 1
    assert escalation.events.filter(type="escalation.updated").count() == 7


def test_simultaneous_first_calls_on_one_new_external_id_make_one_conversation_and_one_card(
    transactional_db,
):
    """The tool call's INSERT … ON CONFLICT DO NOTHING: one caller makes the conversation, the
    others wait for its commit, find it and add to its escalation."""
    agent = factories.make_agent(factories.make_team("Billing"), "Billing Bot")
    callers = [factories.make_user(f"caller{n}") for n in range(8)]

    outcomes = race(
        lambda user: escalate_to_human(agent=agent, external_id="chat-new", reason=user.username), callers
    )

    assert [kind for kind, _ in outcomes] == ["won"] * 8, outcomes
    (conversation,) = Conversation.objects.filter(agent=agent, external_id="chat-new")
    assert conversation.status == ConversationStatus.AWAITING_HUMAN
    (escalation,) = Escalation.objects.filter(conversation=conversation)
    assert escalation.events.filter(type="escalation.created").count() == 1
    assert escalation.events.filter(type="escalation.updated").count() == 7


def test_a_reader_paging_events_by_id_never_skips_one(transactional_db):
    """Consoles and the event feed read `id > cursor`: an id that commits late must not be lost."""
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    writers = [factories.make_user(f"writer{n}") for n in range(8)]
    per_writer = 6
    conversations = {
        user.pk: [factories.make_conversation(agent) for _ in range(per_writer)] for user in writers
    }
    baseline = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    writing = threading.Event()
    writing.set()
    seen: list[int] = []

    def read_feed():
        cursor = baseline
        try:
            while True:
                done = not writing.is_set()
                batch = list(Event.objects.filter(id__gt=cursor).order_by("id").values_list("id", flat=True))
                if batch:
                    seen.extend(batch)
                    cursor = batch[-1]
                if done:
                    return
        finally:
            connections.close_all()

    reader = threading.Thread(target=read_feed)
    reader.start()
    outcomes = race(lambda user: [factories.open_escalation(c) for c in conversations[user.pk]], writers)
    writing.clear()
    reader.join(timeout=60)

    assert {kind for kind, _ in outcomes} == {"won"}, outcomes
    written = list(Event.objects.filter(id__gt=baseline).order_by("id").values_list("id", flat=True))
    assert len(written) == len(writers) * per_writer
    assert seen == written


@sqlite_only
def test_every_new_connection_is_in_wal_mode_and_waits_for_the_write_lock(transactional_db):
    """The init_command runs on each connection (under ASGI each request opens one)."""
    connections.close_all()
    with connection.cursor() as cursor:
        pragmas = {
            name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "busy_timeout", "synchronous")
        }
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 20_000, "synchronous": 1}  # 1: NORMAL
    assert connection.transaction_mode == "IMMEDIATE"


@contextlib.contextmanager
def write_lock_held_elsewhere(*, for_seconds: float = 10):
    """Another connection (as another process would) holds SQLite's write lock for `for_seconds`,
    and this thread's connection gives up waiting for it after 50 ms (20 s in settings)."""
    connections.close_all()
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(for_seconds)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 50")
        yield
    finally:
        release.set()
        holder.join()
        connections.close_all()  # the next connection has the settings' busy timeout again


@sqlite_only
def test_a_transition_that_finds_the_database_busy_is_run_again_whole(transactional_db, escalation, ana):
    """SQLite says "database is locked" (here: the busy timeout ran out); the claim runs again from
    the start once the lock is free, instead of failing. Five tries wait >= 250 ms in SQLite alone."""
    with write_lock_held_elsewhere(for_seconds=0.15):
        claimed = services.claim(escalation_id=escalation.pk, user=ana)

    assert claimed.status == Status.CLAIMED
    assert escalation.history.filter(history_type="~").count() == 1  # one write, not one per try
    assert escalation.events.filter(type="escalation.claimed").count() == 1


@sqlite_only
def test_a_busy_database_inside_a_callers_transaction_is_left_to_the_caller(
    transactional_db, escalation, ana
):
    """Retrying only the inner call would drop what the caller wrote before it in the same transaction."""
    with write_lock_held_elsewhere(), pytest.raises(OperationalError, match="database is locked"):
        with transaction.atomic():
            services.claim(escalation_id=escalation.pk, user=ana)


@sqlite_only
def test_a_database_still_busy_after_the_retries_is_a_503_with_retry_after(
    transactional_db, agent, escalation, ana
):
    """Not a 500: the request was fine and nothing was written; the API says so in its error shape,
    the console with a plain page."""
    _, key = agent_key_create(agent=agent, name="busy")
    browser = Client()
    browser.force_login(ana)

    with write_lock_held_elsewhere():
        created = Client().post(
            "/api/v1/escalations/",
            {"conversation": "chat-busy", "reason": "Refund", "severity": "info"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        claimed = browser.post(f"/console/escalations/{escalation.pk}/claim/")

    assert (created.status_code, created["Retry-After"]) == (503, "5")
    assert created.json()["error"]["code"] == "database_unavailable"
    assert (claimed.status_code, claimed["Retry-After"]) == (503, "5")
    assert "nothing was saved" in claimed.content.decode()
    assert not Escalation.objects.filter(conversation__external_id="chat-busy").exists()
    escalation.refresh_from_db()
    assert escalation.status == Status.OPEN


BURST_WRITERS = 16


@pytest.mark.slow
def test_sixteen_agents_writing_while_supervisors_read_all_succeed_through_daphne(transactional_db, tmp_path):
    """What a newcomer's `make run` gets from a burst: 16 agents at once, each creating an
    escalation, a conversation and a message that fires a rule, while 4 supervisors read the
    console; one real daphne on the test database (the embedded SQLite locally)."""
    team = factories.make_team("Billing")
    agent = factories.make_agent(team, "Billing Bot")
    factories.make_rule(agent)
    _, key = agent_key_create(agent=agent, name="burst")
    as_agent = {"Authorization": f"Bearer {key}"}
    cookies = []
    for number in range(4):
        supervisor = factories.make_user(f"sup{number}")
        factories.add_member(supervisor, team, Role.SUPERVISOR)
        browser = Client()
        browser.force_login(supervisor)
        cookies.append({settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value})
    failures: list[str] = []
    escalation_ids: set[int] = set()
    message_ids: set[int] = set()
    lock = threading.Lock()
    rounds = 3

    def check(response: requests.Response) -> dict | None:
        if response.status_code >= 300:
            with lock:
                failures.append(
                    f"{response.request.method} {response.url}: {response.status_code} {response.text}"
                )
            return None
        return response.json() if "json" in response.headers.get("Content-Type", "") else {}

    with running_daphne(tmp_path, API_RATE_AGENT_KEY="100000/minute") as base:
        start = threading.Barrier(BURST_WRITERS + len(cookies))
        writing = threading.Event()
        writing.set()

        def write(number: int) -> None:
            session = requests.Session()
            start.wait()
            for round_ in range(rounds):
                created = check(session.post(
                    f"{base}/api/v1/escalations/", headers=as_agent, timeout=60,
                    json={"conversation": f"tool-{number}-{round_}", "reason": "Refund", "severity": "info"},
                ))  # fmt: skip
                chat = check(session.post(
                    f"{base}/api/v1/conversations/", headers=as_agent, timeout=60,
                    json={"external_id": f"chat-{number}-{round_}"},
                ))  # fmt: skip
                posted = chat and check(session.post(
                    f"{base}/api/v1/conversations/{chat['id']}/messages/", headers=as_agent, timeout=60,
                    json={"role": "user", "content": "I want a refund, please."},
                ))  # fmt: skip
                with lock:
                    if created:
                        escalation_ids.add(created["id"])
                    if posted:
                        message_ids.add(posted["message"]["id"])
                        escalation_ids.add(posted["escalation"]["id"])

        def read(cookie: dict) -> None:
            session = requests.Session()
            session.cookies.update(cookie)
            start.wait()
            while writing.is_set():
                for page in ("/console/", "/console/history/"):
                    check(session.get(f"{base}{page}", timeout=60, allow_redirects=False))

        writers = [threading.Thread(target=write, args=(n,)) for n in range(BURST_WRITERS)]
        readers = [threading.Thread(target=read, args=(cookie,)) for cookie in cookies]
        for thread in writers + readers:
            thread.start()
        deadline = time.monotonic() + 300
        for thread in writers:
            thread.join(timeout=max(0, deadline - time.monotonic()))
        writing.clear()
        for thread in readers:
            thread.join(timeout=60)

    assert failures == []
    assert len(escalation_ids) == 2 * BURST_WRITERS * rounds
    assert set(Escalation.objects.values_list("id", flat=True)) == escalation_ids
    assert set(Message.objects.values_list("id", flat=True)) == message_ids
