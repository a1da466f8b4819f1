"""The MCP server at /mcp/, driven by the official MCP client over Streamable HTTP against daphne.

The client runs in a thread of its own (its own event loop) while the test,
as ana, answers over the REST API: the tool call blocks as an agent's would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from agents.keys import agent_key_create, agent_key_revoke
from agents.models import Channel, Conversation
from escalations.models import Escalation
from tests import factories
from tests.examples.conftest import WITHIN, Billing, open_escalation_of, wait_for
from tests.live_server import running_daphne

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    with running_daphne(tmp_path_factory.mktemp("daphne")) as base:
        yield base


@pytest.fixture
def billing(transactional_db, server) -> Billing:
    team, agent, key, token = factories.make_refund_desk()
    return Billing(team, agent, key, token, base=server)


@dataclasses.dataclass
class Call:
    result: types.CallToolResult
    progress: list[tuple[float, float | None, str | None]]

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.result.content if isinstance(block, types.TextContent))


def mcp_session_run(base: str, key: str, work) -> Any:
    """Open an MCP session to base/mcp/ with `key` and return what `work(session)` returns."""

    async def run() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with http, streamable_http_client(f"{base}/mcp/", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def call_tool(base: str, key: str, name: str, arguments: dict[str, Any]) -> Call:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def work(session: ClientSession) -> types.CallToolResult:
        return await session.call_tool(name, arguments, progress_callback=on_progress)

    return Call(mcp_session_run(base, key, work), progress)


def answered_while_waiting(billing: Billing, arguments: dict[str, Any], answer) -> tuple[Escalation, Call]:
    """escalate_to_human in a thread; once its escalation is open, answer(escalation) as ana."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call_tool, billing.base, billing.agent_key, "escalate_to_human", arguments)
        escalation = wait_for(lambda: open_escalation_of(billing.agent), "the tool's escalation")
        assert not pending.done()  # the tool waits for the person
        answer(escalation)
        return escalation, pending.result(timeout=WITHIN)


def test_it_lists_the_four_tools_with_guidance_on_when_to_escalate(billing):
    async def work(session: ClientSession) -> types.ListToolsResult:
        return await session.list_tools()

    tools = {tool.name: tool for tool in mcp_session_run(billing.base, billing.agent_key, work).tools}

    assert set(tools) == {"escalate_to_human", "check_escalation", "post_message", "withdraw_escalation"}
    escalate = tools["escalate_to_human"]
    assert "irreversible" in escalate.description and "refund" in escalate.description
    assert escalate.input_schema["properties"]["severity"]["enum"] == ["info", "warning", "critical"]
    assert set(escalate.input_schema["required"]) == {"reason", "severity"}


def test_escalate_to_human_returns_the_supervisors_guidance(billing):
    def respond(escalation: Escalation) -> None:
        answered = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/respond/", json={"guidance": "Refund $150 and apologise."}
        )
        assert answered.status_code == 200, answered.text

    escalation, call = answered_while_waiting(
        billing,
        {"reason": "Customer wants a $150 refund", "severity": "critical", "context": "Order 881, late."},
        respond,
    )

    assert not call.result.is_error, call.text
    assert call.text.endswith("Resume with this guidance:\nRefund $150 and apologise.")
    assert "(ana)" in call.text
    escalation.refresh_from_db()
    # Opened through the REST API's tool-call path: a conversation of its own, channel mcp.
    assert (escalation.origin, escalation.severity, escalation.blocking) == ("tool_call", "critical", True)
    assert escalation.conversation.channel == Channel.MCP
    assert escalation.evidence[0]["text"] == "Order 881, late."
    assert escalation.status == "resolved"


def test_a_dismissal_tells_the_agent_to_proceed_on_its_own_judgement(billing):
    conversation = factories.make_conversation(billing.agent)

    def dismiss(escalation: Escalation) -> None:
        dismissed = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/dismiss/", json={"note": "Standard case."}
        )
        assert dismissed.status_code == 200, dismissed.text

    escalation, call = answered_while_waiting(
        billing,
        {"reason": "Customer mentions a lawyer", "severity": "warning", "conversation_id": conversation.pk},
        dismiss,
    )

    assert call.text == (
        f"Escalation {escalation.pk} was dismissed — proceed on your own judgement. "
        "Their note: Standard case."
    )
    assert escalation.conversation_id == conversation.pk  # the agent's conversation, not a new one


def test_when_the_wait_runs_out_it_says_which_escalation_to_check_and_how(billing):
    call = call_tool(
        billing.base,
        billing.agent_key,
        "escalate_to_human",
        {"reason": "Close the account?", "severity": "info", "wait_seconds": 1},
    )

    escalation = open_escalation_of(billing.agent)
    assert call.text.startswith(f"No answer yet: escalation {escalation.pk} is open. Call check_escalation")
    assert f"id={escalation.pk}" in call.text
    # It reported progress while it waited, so the client kept waiting.
    assert call.progress and call.progress[0][1] == 1
    assert f"escalation {escalation.pk}" in call.progress[0][2]

    # Claimed by ana: still no answer.
    billing.as_supervisor("POST", f"/escalations/{escalation.pk}/claim/")
    claimed = call_tool(billing.base, billing.agent_key, "check_escalation", {"id": escalation.pk})
    assert claimed.text.startswith(f"No answer yet: escalation {escalation.pk} is claimed.")

    # Answered later: check_escalation gives the guidance at once.
    billing.as_supervisor(
        "POST", f"/escalations/{escalation.pk}/respond/", json={"guidance": "Keep it open."}
    )
    checked = call_tool(billing.base, billing.agent_key, "check_escalation", {"id": escalation.pk})
    assert checked.text.endswith("Resume with this guidance:\nKeep it open.")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_escalation(billing):
    arguments = {"reason": "Refund $150?", "severity": "warning", "wait_seconds": 0, "idempotency_key": "k1"}

    first = call_tool(billing.base, billing.agent_key, "escalate_to_human", arguments)
    retried = call_tool(billing.base, billing.agent_key, "escalate_to_human", arguments)
    other = call_tool(billing.base, billing.agent_key, "escalate_to_human", {**arguments, "reason": "Other"})

    escalation = Escalation.objects.get(agent=billing.agent)  # one, and one conversation
    assert first.text == retried.text
    assert first.text.startswith(f"No answer yet: escalation {escalation.pk} is open.")
    assert Conversation.objects.filter(agent=billing.agent).count() == 1
    assert other.result.is_error and "already used with other arguments" in other.text


def test_bad_arguments_get_the_apis_field_messages(billing):
    blank = call_tool(
        billing.base, billing.agent_key, "escalate_to_human", {"reason": " ", "severity": "info"}
    )
    too_long = call_tool(
        billing.base, billing.agent_key, "check_escalation", {"id": 1, "wait_seconds": 100_000}
    )

    assert blank.result.is_error and "Invalid arguments: reason: " in blank.text
    assert too_long.result.is_error and "wait_seconds: between 0 and 1800" in too_long.text
    assert not Escalation.objects.filter(agent=billing.agent).exists()


def test_post_message_says_a_rule_escalated_and_the_conversation_is_paused(billing):
    conversation = factories.make_conversation(billing.agent)

    call = call_tool(
        billing.base,
        billing.agent_key,
        "post_message",
        {"conversation_id": conversation.pk, "role": "user", "content": "I want a refund of $150."},
    )

    escalation = open_escalation_of(billing.agent)
    assert call.result.structured_content == {
        "message_id": conversation.messages.order_by("-id").first().pk,
        "escalated": True,
        "escalation_id": escalation.pk,
        "rules": ["Refunds over $100"],
        "paused": True,
    }
    # A paused conversation refuses the agent's reply, with the REST API's words.
    refused = call_tool(
        billing.base,
        billing.agent_key,
        "post_message",
        {"conversation_id": conversation.pk, "role": "agent", "content": "Sure, refunded!"},
    )
    assert refused.result.is_error
    assert refused.text.endswith(
        f"This conversation is paused while a person handles escalation #{escalation.pk}: "
        "wait for their answer before the agent replies."
    )


def test_withdraw_escalation_closes_it_and_a_second_withdraw_is_refused(billing):
    escalation = factories.open_escalation(factories.make_conversation(billing.agent))

    call = call_tool(billing.base, billing.agent_key, "withdraw_escalation", {"id": escalation.pk})
    again = call_tool(billing.base, billing.agent_key, "withdraw_escalation", {"id": escalation.pk})

    assert call.text == f"Escalation {escalation.pk} is withdrawn; the conversation is no longer paused."
    escalation.refresh_from_db()
    assert escalation.status == "withdrawn"
    assert again.result.is_error and "already withdrawn" in again.text


def test_another_agents_escalation_is_not_found(billing):
    other_team = factories.make_team("Shipping")
    other_agent = factories.make_agent(other_team, "Courier Bot")
    theirs = factories.open_escalation(factories.make_conversation(other_agent))

    for name in ("check_escalation", "withdraw_escalation"):
        call = call_tool(billing.base, billing.agent_key, name, {"id": theirs.pk})
        assert call.result.is_error
        # The SDK puts "Error executing tool <name>: " before the message.
        assert call.text.endswith(f": There is no escalation {theirs.pk}.")
    theirs.refresh_from_db()
    assert theirs.status == "open"

    # The same for a conversation id that is not the agent's.
    call = call_tool(
        billing.base,
        billing.agent_key,
        "escalate_to_human",
        {"reason": "Help", "severity": "info", "conversation_id": theirs.conversation_id},
    )
    assert call.result.is_error and f"There is no conversation {theirs.conversation_id}." in call.text
    assert Conversation.objects.filter(agent=billing.agent).count() == 0


@pytest.mark.parametrize("authorization", [None, "Bearer ak_wrong", "Token ut_not_an_agent_key"])
def test_a_missing_or_bad_key_is_a_401_in_the_apis_error_shape(billing, authorization):
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}

    response = requests.post(f"{billing.base}/mcp/", json=body, headers=headers, timeout=30)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["X-Request-ID"]  # logged like any request, with its id


def test_a_host_outside_allowed_hosts_is_refused_as_django_refuses_it(billing):
    headers = {"Authorization": f"Bearer {billing.agent_key}", "Host": "attacker.example"}

    response = requests.post(f"{billing.base}/mcp/", json={}, headers=headers, timeout=30)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_a_revoked_key_cannot_open_a_session(billing, caplog):
    api_key, key = agent_key_create(agent=billing.agent, name="soon revoked")
    agent_key_revoke(api_key=api_key)

    # The SDK's client gives up at initialize; it names no status, so the log of its request does.
    with pytest.raises(ExceptionGroup) as refused:
        mcp_session_run(billing.base, key, lambda session: session.list_tools())

    assert refused.group_contains(MCPError)
    assert any("401 Unauthorized" in record.getMessage() for record in caplog.records)


def test_a_key_over_its_rate_limit_gets_the_apis_429(billing, tmp_path):
    # A daphne of its own with a tiny budget, and counters of its own (the prefix).
    limited = {"API_RATE_AGENT_KEY": "2/minute", "TEST_RUN_PREFIX": f"mcp-rate-{uuid.uuid4().hex}"}
    headers = {
        "Authorization": f"Bearer {billing.agent_key}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}

    with running_daphne(tmp_path, **limited) as base:
        answers = [requests.post(f"{base}/mcp/", json=body, headers=headers, timeout=30) for _ in range(3)]

    assert [answer.status_code for answer in answers[:2]] == [200, 200]
    assert answers[2].status_code == 429
    assert answers[2].json()["error"]["code"] == "throttled"
    assert int(answers[2].headers["Retry-After"]) >= 1
