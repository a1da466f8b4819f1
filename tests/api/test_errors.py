"""One error shape everywhere, and rate limits per credential."""

from tests.api.conftest import agent_client, token_client

URL = "/api/v1/escalations/"


def test_a_wrong_method_gets_405_in_the_error_shape(agent_api):
    response = agent_api.delete(URL)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_gets_400_in_the_error_shape(agent_api):
    response = agent_api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid", "parse_error"}


def test_each_key_has_its_own_budget_and_the_429_says_when_to_retry(ours, theirs, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "agent_key": "2/minute"}
    ours_client = agent_client(ours.agent_key)
    assert [ours_client.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    throttled = ours_client.get(URL)
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert agent_client(theirs.agent_key).get(URL).status_code == 200


def test_users_are_throttled_by_their_own_rate(ours, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "user": "1/minute"}
    client = token_client(ours.supervisor_token)
    assert [client.get(URL).status_code for _ in range(2)] == [200, 429]


def test_an_unknown_api_url_is_a_404_in_the_error_shape(agent_api):
    response = agent_api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_an_unknown_page_outside_the_api_is_still_html(client, db):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_crash_under_the_api_answers_500_in_the_error_shape(ours, settings):
    from unittest import mock

    from rest_framework.test import APIClient

    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ours.agent_key}")
    with mock.patch("escalations.api.views.EventFeed.get", side_effect=RuntimeError("boom")):
        response = client.get("/api/v1/events/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


def test_a_form_encoded_body_is_a_415_the_api_reads_json_only(agent_api, ours):
    # Forms cannot say null or nest, so they were read differently from the documented JSON
    # (found by the schema fuzzing: a form without `needed` marked feedback as false).
    response = agent_api.post(
        URL,
        "conversation=x&reason=help&severity=info",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_options_on_an_action_without_input_answers_instead_of_500(contributor_api, ours):
    # Found by the schema fuzzing: DRF's OPTIONS metadata asked a view without a serializer for one.
    response = contributor_api.options(f"/api/v1/agents/{ours.agent.pk}/rule-tests/run/")
    assert response.status_code == 200
    assert response.json()["name"] == "Rule Test Run"


def test_a_nul_character_anywhere_in_the_json_is_a_400_not_a_500(agent_api, ours):
    # Found by the schema fuzzing on PostgreSQL, whose jsonb cannot hold "\u0000": a 500 there.
    for metadata in [{"note": "a\x00b"}, {"\x00": 1}, {"list": [{"deep": "\x00"}]}]:
        response = agent_api.post(
            "/api/v1/conversations/", {"external_id": "chat-nul", "metadata": metadata}, format="json"
        )
        assert response.status_code == 400, metadata
        assert response.json()["error"]["code"] == "parse_error"
        assert "may not contain the NUL character (\\u0000)." in response.json()["error"]["message"]
