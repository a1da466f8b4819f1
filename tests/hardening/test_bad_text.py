"""Text UTF-8 cannot encode (a lone surrogate) is refused wherever it can arrive, and
`manage.py repair_text` repairs rows stored before that.

Where it can arrive: JSON escapes ("\\udfff") in API bodies (tests/api/test_bad_json.py),
the admin's JSON fields, and the console socket's frames. Headers, query strings and
form fields cannot carry one: servers decode them as Latin-1 (headers) or UTF-8 with
replacement (test_raw_bytes_in_a_header_query_or_form_reach_django_as_valid_text).
"""

import io
import json
import socket

import pytest
import requests
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.db import DataError, connection, transaction
from django.urls import reverse

from agents.models import Conversation, EscalationRule
from escalation_project.text_checks import MAX_JSON_DEPTH
from escalations.models import IdempotencyRecord
from supervisors.models import Role
from tests import factories
from tests.api.conftest import make_side
from tests.api.test_bad_json import api  # noqa: F401 (fixture: the agent's client, 500s answered)
from tests.live_server import running_daphne
from tests.supervisors.conftest import console_socket, session_cookie


def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL refuses lone surrogates at the write (test_postgresql_refuses_…)")


def run_repair(*args: str) -> str:
    out = io.StringIO()
    call_command("repair_text", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def ours(db):
    return make_side("Billing", "Billing Bot", "ana")


# --- repair_text -------------------------------------------------------------------


def test_a_row_stored_with_a_lone_surrogate_breaks_its_reads_until_repaired(api, ours, client):  # noqa: F811 (the imported fixture)
    sqlite_only()
    # What the API stored before it refused such text (the ORM writes it as a JSON escape).
    broken = Conversation.objects.create(agent=ours.agent, external_id="x", metadata={"k": "\udfff"})
    assert api.get(f"/api/v1/conversations/{broken.pk}/").status_code == 500
    root = factories.make_user("root", superuser=True)
    client.force_login(root)
    admin_page = reverse("admin:agents_conversation_change", args=[broken.pk])
    client.raise_request_exception = False
    assert client.get(admin_page).status_code == 500

    listed = run_repair("--dry-run")
    assert f'agents_conversation pk={broken.pk} metadata: {{"k": "\\udfff"}} -> {{"k": "\\ufffd"}}' in listed
    assert "1 value(s) would be repaired" in listed
    assert Conversation.objects.get(pk=broken.pk).metadata == {"k": "\udfff"}  # a dry run changes nothing

    assert "Repaired 1 value(s)." in run_repair()
    assert Conversation.objects.get(pk=broken.pk).metadata == {"k": "\ufffd"}
    assert api.get(f"/api/v1/conversations/{broken.pk}/").status_code == 200
    assert client.get(admin_page).status_code == 200
    assert "No stored text needs repair." in run_repair()


def test_keys_nested_values_and_history_rows_are_repaired(ours):
    sqlite_only()
    rule = factories.make_rule(ours.agent, name="surrogates")
    EscalationRule.objects.filter(pk=rule.pk).update(parameters={"phrases": ["a\ud800b"], "\udc00": 1})
    rule.refresh_from_db()
    rule.save()  # a history row holding it too
    history = rule.history.latest("history_id")
    assert history.parameters["phrases"] == ["a\ud800b"]

    listed = run_repair()
    assert "agents_escalationrule pk=" in listed
    assert "agents_historicalescalationrule pk=" in listed
    expected = {"phrases": ["a\ufffdb"], "\ufffd": 1}
    assert EscalationRule.objects.get(pk=rule.pk).parameters == expected
    assert rule.history.get(history_id=history.history_id).parameters == expected


def test_a_text_column_with_bytes_that_are_not_utf8_is_repaired(ours):
    sqlite_only()
    conversation = factories.make_conversation(ours.agent, "bytes")
    with connection.cursor() as cursor:  # as another tool could have written it
        cursor.execute(
            "UPDATE agents_conversation SET subject = CAST(X'61EDBFBF62' AS TEXT) WHERE id = %s",
            [conversation.pk],
        )
    with pytest.raises(Exception, match="decode"):
        Conversation.objects.get(pk=conversation.pk).subject  # noqa: B018 (the read itself fails)

    assert f"agents_conversation pk={conversation.pk} subject:" in run_repair()
    assert Conversation.objects.get(pk=conversation.pk).subject == "a\ufffdb"


def test_repair_runs_on_any_database_and_leaves_valid_text_alone(ours):
    factories.make_conversation(ours.agent, "fine", metadata={"emoji": "\U0001f600", "accent": "é"})
    assert "No stored text needs repair." in run_repair("--dry-run")
    assert "No stored text needs repair." in run_repair()
    assert Conversation.objects.get(external_id="fine").metadata == {"emoji": "\U0001f600", "accent": "é"}


def test_postgresql_refuses_a_lone_surrogate_at_the_write(ours):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    # So no such row can exist there: the API's 500 was at the write, with nothing stored.
    with pytest.raises(DataError), transaction.atomic():
        Conversation.objects.create(agent=ours.agent, external_id="x", metadata={"k": "\udfff"})
    assert not Conversation.objects.filter(external_id="x").exists()


# --- the admin's JSON fields ---------------------------------------------------------


def rule_form(client, url: str, **fields: str) -> dict:
    """The change form as the admin renders it, with some fields changed."""
    form = client.get(url).context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value is not False:
            data[name] = "" if value is None else value
    return {**data, **fields}


# The parameters are form fields now (one phrase a line), not JSON: no depth to check, and a
# lone surrogate cannot arrive in a form post (invalid UTF-8 is decoded as U+FFFD). NUL can.
def test_the_admins_rule_fields_refuse_what_the_api_refuses(client, ours):
    rule = factories.make_rule(ours.agent, name="Refunds")
    owner = factories.make_user("olga", is_staff=True)
    factories.add_member(owner, ours.team, Role.OWNER)
    client.force_login(owner)
    client.raise_request_exception = False
    url = reverse("admin:agents_escalationrule_change", args=[rule.pk])
    for field in ("phrases__phrases", "exception_phrases"):
        response = client.post(url, rule_form(client, url, **{field: "refund\na\x00"}))
        assert response.status_code == 200  # the form again, with the error
        assert "may not contain the NUL character" in str(response.context["adminform"].form.errors[field])
        assert EscalationRule.objects.get(pk=rule.pk).parameters == rule.parameters
    # A valid edit on the same form still saves.
    saved = client.post(url, rule_form(client, url, phrases__phrases="refund\nmoney back"))
    assert saved.status_code == 302
    assert EscalationRule.objects.get(pk=rule.pk).parameters == {"phrases": ["refund", "money back"]}


def test_the_rules_what_if_page_answers_bad_json_with_its_error(client, ours):
    rule = factories.make_rule(ours.agent, name="Refunds")
    client.force_login(factories.make_user("root", superuser=True))
    client.raise_request_exception = False
    url = reverse("admin:agents_escalationrule_what_if", args=[rule.pk])
    deep = '{"phrases": ' + "[" * 3000 + "]" * 3000 + "}"
    response = client.post(url, {"parameters": deep, "exception_phrases": "[]"})
    assert response.status_code == 200
    assert f"at most {MAX_JSON_DEPTH} levels deep" in response.content.decode()


# --- the console socket ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_deep_or_bad_text_frame_gets_an_error_and_the_socket_stays_open(ours):
    cookie = session_cookie(ours.supervisor)
    frames = ["[" * 3000 + "]" * 3000, '{"type": "resume", "after": "\\udfff"}']

    async def scenario():
        socket = console_socket(cookie=cookie)
        assert (await socket.connect())[0]
        answers = []
        for frame in frames:
            await socket.send_to(text_data=frame)
            while (message := await socket.receive_json_from(timeout=5)).get("type") == "presence":
                pass
            answers.append(message)
        await socket.send_json_to({"type": "ping"})
        while (pong := await socket.receive_json_from(timeout=5)).get("type") == "presence":
            pass
        await socket.disconnect()
        return answers, pong

    answers, pong = async_to_sync(scenario)()
    assert [answer["type"] for answer in answers] == ["error", "error"]
    assert pong == {"type": "pong"}


# --- headers, query strings, forms: what a real server hands Django -----------------


@pytest.mark.slow
def test_raw_bytes_in_a_header_query_or_form_reach_django_as_valid_text(transactional_db, tmp_path, ours):
    # A surrogate encoded in UTF-8 (ED BF BF) is not UTF-8: daphne and Django decode headers as
    # Latin-1 and percent-escapes with replacement, so what reaches a view and the database
    # is valid text. The Idempotency-Key is the one header stored.
    surrogate = b"\xed\xbf\xbf"
    body = json.dumps({"conversation": "c", "reason": "r", "severity": "info"}).encode()
    with running_daphne(tmp_path) as base:
        host, port = base.removeprefix("http://").split(":")
        request = (
            b"POST /api/v1/escalations/?q=%ED%BF%BF HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Authorization: Bearer " + ours.agent_key.encode() + b"\r\n"
            b"Idempotency-Key: key-" + surrogate + b"\r\n"
            b"User-Agent: agent-" + surrogate + b"\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            raw.sendall(request)
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        cookie = session_cookie(factories.make_user("root", superuser=True))
        page_url = f"{base}/console/?q=%ED%BF%BF&after=%ED%BF%BF"
        page = requests.get(page_url, headers={"Cookie": cookie}, timeout=30)
        assert page.status_code == 200
    stored = IdempotencyRecord.objects.get().key
    assert stored == "key-" + surrogate.decode("latin-1")
    stored.encode("utf-8")  # valid text: no lone surrogate reached the database
    assert "No stored text needs repair." in run_repair()
