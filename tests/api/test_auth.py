"""Who may call the API: agent keys, staff tokens and console sessions; everyone else gets 401."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from agents.keys import agent_key_revoke
from agents.models import AgentApiKey
from escalation_project.api.secrets import digest_of
from supervisors.models import UserToken
from tests.api.conftest import agent_client, token_client

URL = "/api/v1/escalations/"


def test_no_credentials_get_401_with_a_bearer_challenge(ours):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header", ["Bearer nonsense", "Bearer ak_000000000000_wrong", "Token ut_000000000000_wrong", "Bearer a b"]
)
def test_a_wrong_key_gets_401_that_says_nothing_specific(ours, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "authentication_failed",
        "message": "The API key or token is missing, revoked or wrong.",
    }


def test_a_key_with_a_right_prefix_but_wrong_secret_is_refused(ours):
    prefix = AgentApiKey.objects.get(agent=ours.agent).prefix
    assert agent_client(f"ak_{prefix}_not-the-secret").get(URL).status_code == 401


def test_a_revoked_key_is_refused(ours):
    agent_key_revoke(api_key=AgentApiKey.objects.get(agent=ours.agent))
    assert agent_client(ours.agent_key).get(URL).status_code == 401


def test_a_used_key_records_when_it_was_last_used(agent_api, ours):
    assert agent_api.get(URL).status_code == 200
    assert AgentApiKey.objects.get(agent=ours.agent).last_used_at is not None


def test_keys_are_stored_only_as_a_sha256_digest(ours):
    row = AgentApiKey.objects.get(agent=ours.agent)
    assert row.key_hash == digest_of(ours.agent_key)
    assert ours.agent_key not in {row.prefix, row.key_hash, row.name}


def test_a_console_session_can_use_the_api(ours):
    client = APIClient()
    client.force_login(ours.supervisor)
    assert client.get(URL).status_code == 200


def test_an_inactive_users_token_is_refused(ours):
    ours.supervisor.is_active = False
    ours.supervisor.save()
    assert token_client(ours.supervisor_token).get(URL).status_code == 401


def test_create_agent_key_prints_a_working_key(ours):
    out = StringIO()
    call_command("create_agent_key", ours.agent.slug, "--name", "worker", stdout=out)
    key = out.getvalue().strip()
    assert key.startswith("ak_")
    assert agent_client(key).get(URL).status_code == 200


def test_create_user_token_prints_a_working_token(ours):
    out = StringIO()
    call_command("create_user_token", ours.supervisor.username, stdout=out)
    token = out.getvalue().strip()
    assert UserToken.objects.filter(user=ours.supervisor).count() == 2
    assert token_client(token).get(URL).status_code == 200


def test_create_agent_key_for_an_unknown_agent_fails_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no agent"):
        call_command("create_agent_key", "nobody")
