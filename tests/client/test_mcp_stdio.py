"""escalation-console-mcp, driven by the official MCP client over stdio, against a real daphne.

The bridge runs as a desktop client runs it: a subprocess started by
mcp.client.stdio.stdio_client with ESCALATION_API_URL and ESCALATION_AGENT_KEY in
its environment, calling the REST API. The command is the console script's entry point
as clients/python/pyproject.toml declares it, run from the package's source (which
is what the installed script does), so the suite needs no installed client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from agents.keys import agent_key_create, agent_key_revoke
from agents.models import Channel, Conversation
from escalations import mcp_tools
from escalations.models import Escalation
from tests import factories
from tests.client.conftest import dismiss, respond
from tests.examples.conftest import WITHIN, open_escalation_of, wait_for

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def entry_point() -> list[str]:
    """The console script's command: `python -c` importing what [project.scripts] names."""
    scripts = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["escalation-console-mcp"].split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {function}; sys.exit({function}())"]


def bridge_environment(base: str, key: str) -> dict[str, str]:
    return {"ESCALATION_API_URL": base, "ESCALATION_AGENT_KEY": key, "PYTHONPATH": str(CLIENT / "src")}


@dataclasses.dataclass
class Call:
    result: types.CallToolResult
    progress: list[tuple[float, float | None, str | None]]

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.result.content if isinstance(block, types.TextContent))


def stdio_session_run(base: str, key: str, work) -> Any:
    """Start the bridge, open an MCP session over its stdio, return what `work(session)` returns."""
    command, *args = entry_point()
    parameters = StdioServerParameters(command=command, args=args, env=bridge_environment(base, key))

    async def run() -> Any:
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def call_tool(base: str, key: str, name: str, arguments: dict[str, Any]) -> Call:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def work(session: ClientSession) -> types.CallToolResult:
        return await session.call_tool(name, arguments, progress_callback=on_progress)

    return Call(stdio_session_run(base, key, work), progress)


def answered_while_waiting(billing, arguments: dict[str, Any], answer) -> tuple[Escalation, Call]:
    """escalate_to_human over stdio in a thread; once its escalation is open, answer(escalation) as ana."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call_tool, billing.base, billing.agent_key, "escalate_to_human", arguments)
        escalation = wait_for(lambda: open_escalation_of(billing.agent), "the tool's escalation")
        assert not pending.done()  # the tool waits for the person
        answer(escalation)
        return escalation, pending.result(timeout=WITHIN)


def test_it_serves_the_http_servers_four_tools_word_for_word(billing):
    async def work(session: ClientSession) -> types.ListToolsResult:
        return await session.list_tools()

    served = stdio_session_run(billing.base, billing.agent_key, work).tools
    over_http = asyncio.run(mcp_tools.server.list_tools())

    def described(tools) -> dict[str, tuple[str | None, dict[str, Any]]]:
        return {tool.name: (tool.description, tool.input_schema) for tool in tools}

    assert set(described(served)) == {
        "escalate_to_human",
        "check_escalation",
        "post_message",
        "withdraw_escalation",
    }
    assert described(served) == described(over_http)


def test_escalate_to_human_returns_the_supervisors_guidance(billing):
    escalation, call = answered_while_waiting(
        billing,
        {"reason": "Customer wants a $150 refund", "severity": "critical", "context": "Order 881, late."},
        lambda escalation: respond(billing, escalation.pk, "Refund $150 and apologise."),
    )

    assert not call.result.is_error, call.text
    assert call.text == (
        f"A person answered escalation {escalation.pk} (ana). Resume with this guidance:\n"
        "Refund $150 and apologise."
    )
    escalation.refresh_from_db()
    assert (escalation.origin, escalation.severity, escalation.blocking) == ("tool_call", "critical", True)
    assert escalation.conversation.channel == Channel.MCP
    assert escalation.evidence[0]["text"] == "Order 881, late."
    # It told the client it was waiting, so the client kept waiting.
    assert call.progress and f"escalation {escalation.pk}" in call.progress[0][2]


def test_a_dismissal_tells_the_agent_to_proceed_on_its_own_judgement(billing):
    conversation = factories.make_conversation(billing.agent)

    escalation, call = answered_while_waiting(
        billing,
        {"reason": "Customer mentions a lawyer", "severity": "warning", "conversation_id": conversation.pk},
        lambda escalation: dismiss(billing, escalation.pk, "Standard case."),
    )

    assert call.text == (
        f"Escalation {escalation.pk} was dismissed — proceed on your own judgement. "
        "Their note: Standard case."
    )
    assert escalation.conversation_id == conversation.pk


def test_when_the_wait_runs_out_it_says_which_escalation_to_check_and_how(billing):
    call = call_tool(
        billing.base,
        billing.agent_key,
        "escalate_to_human",
        {"reason": "Close the account?", "severity": "info", "wait_seconds": 1},
    )

    escalation = open_escalation_of(billing.agent)
    assert call.text == (
        f"No answer yet: escalation {escalation.pk} is open. Call check_escalation with id={escalation.pk} "
        "(and wait_seconds) to wait again, or withdraw_escalation if it is no longer needed. "
        "The conversation stays paused until a person answers."
    )
    assert call.progress and call.progress[0][1] == 1

    respond(billing, escalation.pk, "Keep it open.")
    checked = call_tool(billing.base, billing.agent_key, "check_escalation", {"id": escalation.pk})
    assert checked.text.endswith("Resume with this guidance:\nKeep it open.")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_escalation(billing):
    arguments = {"reason": "Refund $150?", "severity": "warning", "wait_seconds": 0, "idempotency_key": "k1"}

    first = call_tool(billing.base, billing.agent_key, "escalate_to_human", arguments)
    retried = call_tool(billing.base, billing.agent_key, "escalate_to_human", arguments)
    other = call_tool(billing.base, billing.agent_key, "escalate_to_human", {**arguments, "reason": "Other"})

    escalation = Escalation.objects.get(agent=billing.agent)
    assert first.text == retried.text
    assert first.text.startswith(f"No answer yet: escalation {escalation.pk} is open.")
    assert Conversation.objects.filter(agent=billing.agent).count() == 1
    assert other.result.is_error and other.text.endswith(
        "This idempotency_key was already used with other arguments."
    )


def test_post_message_says_the_conversation_is_paused_and_withdraw_ends_it(billing):
    conversation = factories.make_conversation(billing.agent)
    message = {"conversation_id": conversation.pk, "role": "user", "content": "I want a refund of $150."}

    posted = call_tool(billing.base, billing.agent_key, "post_message", message)
    escalation = open_escalation_of(billing.agent)
    refused = call_tool(billing.base, billing.agent_key, "post_message", {**message, "role": "agent"})
    withdrawn = call_tool(billing.base, billing.agent_key, "withdraw_escalation", {"id": escalation.pk})
    again = call_tool(billing.base, billing.agent_key, "withdraw_escalation", {"id": escalation.pk})

    assert posted.result.structured_content == {
        "message_id": conversation.messages.order_by("-id").first().pk,
        "escalated": True,
        "escalation_id": escalation.pk,
        "rules": ["Refunds over $100"],
        "paused": True,
    }
    assert refused.result.is_error and refused.text.endswith(
        f"This conversation is paused while a person handles escalation #{escalation.pk}: "
        "wait for their answer before the agent replies."
    )
    assert withdrawn.text == f"Escalation {escalation.pk} is withdrawn; the conversation is no longer paused."
    assert again.result.is_error and "already withdrawn" in again.text


def test_bad_arguments_and_another_agents_ids_get_the_http_servers_words(billing):
    other_agent = factories.make_agent(factories.make_team("Shipping"), "Courier Bot")
    theirs = factories.open_escalation(factories.make_conversation(other_agent))

    blank = call_tool(
        billing.base, billing.agent_key, "escalate_to_human", {"reason": " ", "severity": "info"}
    )
    not_ours = call_tool(billing.base, billing.agent_key, "check_escalation", {"id": theirs.pk})

    assert blank.result.is_error and "Invalid arguments: reason: " in blank.text
    assert not_ours.result.is_error and not_ours.text.endswith(f": There is no escalation {theirs.pk}.")
    assert not Escalation.objects.filter(agent=billing.agent).exists()


def run_bridge(environment: dict[str, str]) -> subprocess.CompletedProcess:
    """The bridge started as a desktop client starts it, with only `environment`; stdin closed."""
    return subprocess.run(
        entry_point(),
        env={"PATH": os.environ["PATH"], **environment},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WITHIN,
    )


@pytest.mark.parametrize(
    "unset, bad, says",
    [
        ("ESCALATION_API_URL", {}, "ESCALATION_API_URL is not set"),
        ("ESCALATION_AGENT_KEY", {}, "ESCALATION_AGENT_KEY is not set"),
        ("", {"ESCALATION_API_URL": "127.0.0.1:8000"}, "is not an http(s) address"),
        ("", {"ESCALATION_AGENT_KEY": "ut_a_supervisor_token"}, "is not an agent API key"),
    ],
)
def test_a_missing_or_malformed_setting_stops_it_with_what_to_fix(billing, unset, bad, says):
    environment = {**bridge_environment(billing.base, billing.agent_key), **bad}
    environment.pop(unset, None)

    finished = run_bridge(environment)

    assert finished.returncode == 1
    assert says in finished.stderr
    assert "Traceback" not in finished.stderr


def test_a_key_the_console_refuses_stops_it_at_start_and_fails_calls_after(billing):
    refused_at_start = run_bridge(bridge_environment(billing.base, "ak_wrong"))

    assert refused_at_start.returncode == 1
    assert f"the Escalation Console at {billing.base} refused ESCALATION_AGENT_KEY" in refused_at_start.stderr

    # Revoked while the bridge runs: each call says so.
    api_key, key = agent_key_create(agent=billing.agent, name="soon revoked")

    async def work(session: ClientSession) -> types.CallToolResult:
        await asyncio.to_thread(agent_key_revoke, api_key=api_key)
        return await session.call_tool("check_escalation", {"id": 1})

    call = Call(stdio_session_run(billing.base, key, work), [])
    assert call.result.is_error
    assert f"The Escalation Console at {billing.base} refused ESCALATION_AGENT_KEY" in call.text
