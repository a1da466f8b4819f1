"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 naming the limit.

In the API's error shape under /api/, a page elsewhere.
"""

import pytest
import requests

from agents.keys import agent_key_create
from agents.models import Conversation
from tests import factories
from tests.api.test_bad_json import api  # noqa: F401 (fixture: the agent's client, 500s answered)
from tests.live_server import running_daphne

URL = "/api/v1/conversations/"


def body_of(size: int) -> bytes:
    head = b'{"external_id":"big","metadata":{"note":"'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_20_mb_body_is_a_413_in_the_error_shape_naming_the_limit(api):  # noqa: F811 (the imported fixture)
    response = api.post(URL, body_of(20 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "error": {"code": "body_too_large", "message": "The request body is larger than the 2.5 MB limit."}
    }
    assert not Conversation.objects.filter(external_id="big").exists()


def test_the_message_follows_the_setting_and_a_body_within_it_is_read(api, settings):  # noqa: F811 (the imported fixture)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    assert api.post(URL, body_of(64 * 1024), content_type="application/json").status_code == 201
    response = api.post(URL, body_of(64 * 1024 + 1), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "The request body is larger than the 64 KB limit."


def test_a_console_page_answers_413_with_a_page(client, db):
    response = client.post(
        "/console/login/", body_of(3 * 1024 * 1024), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"The request body is larger than the 2.5 MB limit." in response.content


@pytest.mark.slow
def test_daphne_answers_413_and_a_chunked_body_is_no_500(transactional_db, tmp_path):
    agent = factories.make_agent(factories.make_team("Billing"), "Billing Bot")
    _, key = agent_key_create(agent=agent, name="live")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = body_of(3 * 1024 * 1024)

    def chunks():  # a generator: requests sends it chunked, without Content-Length
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    with running_daphne(tmp_path) as base:
        response = requests.post(f"{base}{URL}", data=body, headers=headers, timeout=30)
        assert response.status_code == 413
        assert response.json()["error"]["message"] == "The request body is larger than the 2.5 MB limit."
        # DRF reads a body without Content-Length as empty: the fields are missing.
        chunked = requests.post(f"{base}{URL}", data=chunks(), headers=headers, timeout=30)
        assert chunked.status_code == 400
        assert chunked.json()["error"]["fields"]["external_id"]
    assert not Conversation.objects.filter(external_id="big").exists()
