"""Login rate limiting (django-axes): per username and per address, for the console and the admin.

The failures are counted in the database (axes's AccessAttempt rows), not in Redis: people
sign in, and the lockout holds, while Redis is down.
"""

import uuid

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests import factories
from tests.faults.conftest import redis_refusing  # noqa: F401 (fixture: the cache, Redis, down)

LOGINS = {"console": "/console/login/", "admin": "/admin/login/"}


@pytest.fixture(autouse=True)
def few_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_MINUTES = 15


def fail(client: Client, url: str, username: str, times: int) -> None:
    """`times` wrong passwords; the one that reaches the limit already gets the lockout page."""
    for attempt in range(1, times + 1):
        response = client.post(url, {"username": username, "password": "wrong"})
        # Below the limit: the form again, "Please enter a correct username and password".
        assert response.status_code == (429 if attempt >= 3 else 200)


@pytest.mark.parametrize("which", ["console", "admin"])
def test_a_username_is_locked_after_the_limit_even_with_the_right_password(db, which):
    factories.make_user("ana", is_staff=True)  # password "pw"
    url = LOGINS[which]
    fail(Client(REMOTE_ADDR="10.0.0.1"), url, "ana", 3)

    # Another address, the right password: still refused, the username is locked.
    response = Client(REMOTE_ADDR="10.0.0.2").post(url, {"username": "ana", "password": "pw"})

    assert response.status_code == 429
    text = response.content.decode()
    assert "After 3 failed attempts" in text
    assert "<strong>ana</strong>" in text
    assert "paused for 15 minutes" in text
    assert f'href="{url}"' in text
    assert "_auth_user_id" not in response.wsgi_request.session


def test_an_address_is_locked_whatever_username_it_tries_next(db):
    factories.make_user("bob")
    attacker = Client(REMOTE_ADDR="10.0.0.9")
    for username in ("alice", "carol"):
        assert attacker.post("/console/login/", {"username": username, "password": "x"}).status_code == 200
    assert attacker.post("/console/login/", {"username": "dave", "password": "x"}).status_code == 429

    assert attacker.post("/console/login/", {"username": "bob", "password": "pw"}).status_code == 429
    # bob himself, from his own address, is not locked out by someone else's guessing.
    response = Client(REMOTE_ADDR="10.0.0.3").post("/console/login/", {"username": "bob", "password": "pw"})
    assert response.status_code == 302


def test_a_success_before_the_limit_resets_the_count(db):
    factories.make_user("ana")
    client = Client(REMOTE_ADDR="10.0.0.4")
    fail(client, "/console/login/", "ana", 2)
    assert client.post("/console/login/", {"username": "ana", "password": "pw"}).status_code == 302
    client.logout()

    fail(client, "/console/login/", "ana", 2)

    assert client.post("/console/login/", {"username": "ana", "password": "pw"}).status_code == 302


def test_the_lockout_ends_after_its_minutes(db, time_machine):
    factories.make_user("ana")
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    client = Client(REMOTE_ADDR="10.0.0.5")
    fail(client, "/console/login/", "ana", 3)
    time_machine.move_to("2026-03-02 10:14:00+00:00", tick=False)
    assert client.post("/console/login/", {"username": "ana", "password": "pw"}).status_code == 429

    time_machine.move_to("2026-03-02 10:16:00+00:00", tick=False)

    assert client.post("/console/login/", {"username": "ana", "password": "pw"}).status_code == 302


@pytest.mark.parametrize("which", ["console", "admin"])
def test_a_lockout_says_in_retry_after_how_many_seconds_are_left(db, time_machine, which):
    factories.make_user("ana", is_staff=True)
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    client = Client(REMOTE_ADDR="10.0.0.6")
    fail(client, LOGINS[which], "ana", 3)
    time_machine.move_to("2026-03-02 10:05:30+00:00", tick=False)

    response = client.post(LOGINS[which], {"username": "ana", "password": "pw"})

    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60 - 330)  # the last failure at 10:00 + 15 min


def test_retry_after_waits_for_the_lock_that_ends_last(db, time_machine):
    """ana's name is locked from 10:00; her address, from guesses at other names, only from 10:10."""
    factories.make_user("ana")
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    fail(Client(REMOTE_ADDR="10.0.0.1"), "/console/login/", "ana", 3)
    time_machine.move_to("2026-03-02 10:10:00+00:00", tick=False)
    guesser = Client(REMOTE_ADDR="10.0.0.2")
    for username in ("bob", "carol"):
        assert guesser.post("/console/login/", {"username": username, "password": "x"}).status_code == 200
    assert guesser.post("/console/login/", {"username": "dave", "password": "x"}).status_code == 429

    response = guesser.post("/console/login/", {"username": "ana", "password": "pw"})

    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)  # the address's lock, newer than the name's


@pytest.mark.usefixtures("redis_refusing")
def test_with_redis_down_people_sign_in_and_the_lockout_still_holds(db):
    factories.make_user("ana", is_staff=True)
    factories.make_user("bob", is_staff=True)

    for url in LOGINS.values():
        assert Client().get(url).status_code == 200
    ana = Client(REMOTE_ADDR="10.0.0.1")
    assert ana.post("/console/login/", {"username": "ana", "password": "pw"}).status_code == 302
    assert ana.get("/console/").status_code == 200
    fail(Client(REMOTE_ADDR="10.0.0.2"), "/admin/login/", "bob", 3)

    assert (
        Client(REMOTE_ADDR="10.0.0.3")
        .post("/console/login/", {"username": "bob", "password": "pw"})
        .status_code
        == 429
    )
    assert AccessAttempt.objects.filter(username="bob").exists()  # the count is a row


def test_the_apis_anonymous_limit_counts_per_address_whatever_x_forwarded_for_says(db, settings):
    """Behind the proxy daphne --proxy-headers has already put the client's address in REMOTE_ADDR.

    The schema is the API's page open to anyone (elsewhere a request without credentials is a 401
    before any limit is counted).
    """
    settings.API_THROTTLE_KEY_PREFIX = f"{settings.API_THROTTLE_KEY_PREFIX}:{uuid.uuid4().hex}"
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "anonymous": "2/hour"}
    client = Client(REMOTE_ADDR="10.0.0.7")

    statuses = [
        client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(3)
    ]

    assert statuses == [200, 200, 429]
    # Another address has its own budget.
    assert Client(REMOTE_ADDR="10.0.0.8").get("/api/schema/").status_code == 200
