"""JSON of any bad shape is a 400 in the error shape, refused before anything is written."""

import pytest
from rest_framework.test import APIClient

from agents.models import Conversation
from escalation_project.text_checks import MAX_JSON_DEPTH
from escalations.models import Escalation
from tests import factories


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def api(ours) -> APIClient:
    # A crash must show as the 500 it is, not as an exception in the test.
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ours.agent_key}")
    return client


@pytest.fixture
def supervisor(ours) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {ours.supervisor_token}")
    return client


def post_json(client: APIClient, url: str, body: str | bytes, content_type: str = "application/json"):
    return client.post(url, body, content_type=content_type)


def assert_parse_error(response, message: str) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response.json() == {"error": {"code": "parse_error", "message": message}}


DEPTH_MESSAGE = f"JSON may nest arrays and objects at most {MAX_JSON_DEPTH} levels deep."


def test_3000_nested_arrays_are_a_400_on_every_json_endpoint(api, supervisor, ours):
    escalation = factories.open_escalation(ours.conversation)
    for client, url in [
        (api, "/api/v1/escalations/"),
        (api, "/api/v1/conversations/"),
        (api, f"/api/v1/conversations/{ours.conversation.pk}/messages/"),
        (supervisor, f"/api/v1/escalations/{escalation.pk}/feedback/"),
    ]:
        assert_parse_error(post_json(client, url, nested(3000)), DEPTH_MESSAGE)
        # Inside a field, and objects as well as arrays.
        deep_object = '{"metadata":' + '{"a":' * 3000 + "1" + "}" * 3001
        assert_parse_error(post_json(client, url, deep_object), DEPTH_MESSAGE)


def test_metadata_nested_up_to_the_limit_is_stored(api):
    metadata = {"k": None}
    for _ in range(MAX_JSON_DEPTH - 2):  # the body and the metadata object are two levels
        metadata = {"k": metadata}
    body = {"external_id": "deep", "metadata": metadata}
    response = api.post("/api/v1/conversations/", body, format="json")
    assert response.status_code == 201, response.content
    assert Conversation.objects.get(external_id="deep").metadata == metadata


def test_one_level_more_is_refused_and_nothing_is_written(api):
    body = '{"external_id":"too-deep","metadata":' + nested(MAX_JSON_DEPTH) + "}"
    assert_parse_error(post_json(api, "/api/v1/conversations/", body), DEPTH_MESSAGE)
    assert not Conversation.objects.filter(external_id="too-deep").exists()


def test_brackets_inside_strings_do_not_count(api):
    note = "[" * 500 + '"{' * 50
    body = {"external_id": "brackets", "metadata": {"note": note}}
    response = api.post("/api/v1/conversations/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == {"note": note}


@pytest.mark.parametrize(
    "value, message",
    [
        ("1e999", "The number 1e999 is too large."),
        ("NaN", "NaN is not valid JSON."),
        ("-Infinity", "-Infinity is not valid JSON."),
    ],
)
def test_numbers_json_cannot_write_back_are_refused(api, value, message):
    # They were accepted into metadata; rendering (strict JSON) or jsonb then failed: a 500.
    body = '{"external_id":"numbers","metadata":{"n":' + value + "}}"
    assert_parse_error(post_json(api, "/api/v1/conversations/", body), message)


def test_an_integer_of_5000_digits_is_a_400(api):
    body = '{"external_id":"x","metadata":{"n":' + "9" * 5000 + "}}"
    response = post_json(api, "/api/v1/conversations/", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_bytes_that_are_not_utf8_are_a_400_naming_the_problem(api):
    response = post_json(api, "/api/v1/conversations/", b'{"external_id":"\xff"}')
    assert_parse_error(response, "The body is not valid utf-8 text (invalid start byte).")


def test_a_lone_surrogate_is_a_400_naming_where_and_nothing_is_written(api):
    response = post_json(api, "/api/v1/conversations/", '{"external_id":"x","metadata":{"k":"\\udfff"}}')
    assert_parse_error(
        response, "Text at metadata.k is not valid Unicode: a lone surrogate (\\udfff) cannot be stored."
    )
    assert not Conversation.objects.filter(external_id="x").exists()
    # The same POST without it works, and so do its reads: nothing half-written.
    created = api.post("/api/v1/conversations/", {"external_id": "x", "metadata": {"k": "ok"}}, format="json")
    assert created.status_code == 201
    assert api.get(f"/api/v1/conversations/{created.json()['id']}/").status_code == 200


@pytest.mark.parametrize(
    "body, where",
    [
        ('{"conversation":"c","reason":"\\ud800","severity":"info"}', "reason"),
        ('{"conversation":"c","reason":"r","severity":"info","\\udc00x":1}', "\\udc00x"),
        ('{"messages":[{"role":"user","content":"a\\ud83d"}]}', "messages[0].content"),
    ],
)
def test_a_lone_surrogate_anywhere_names_its_path(api, body, where):
    response = post_json(api, "/api/v1/escalations/", body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"Text at {where} is not valid Unicode")
    assert not Escalation.objects.exists()


def test_a_surrogate_pair_is_one_valid_character(api):
    # What json.dumps writes for an emoji by default: it must keep working.
    response = post_json(api, "/api/v1/conversations/", '{"external_id":"emoji","subject":"\\ud83d\\ude00"}')
    assert response.status_code == 201
    assert response.json()["subject"] == "\U0001f600"


def test_an_escaped_backslash_before_u0000_is_text_not_nul(api):
    response = post_json(api, "/api/v1/conversations/", '{"external_id":"slash","subject":"\\\\u0000"}')
    assert response.status_code == 201
    assert response.json()["subject"] == "\\u0000"
