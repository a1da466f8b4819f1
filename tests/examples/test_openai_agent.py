"""examples/openai_agent run as a program: the real Agents SDK and its MCP client against our /mcp/ on daphne.

Only the model is a stand-in (the example's ScriptedSupportModel, on the SDK's Model interface): it decides
to call escalate_to_human, and nothing is sent to OpenAI. The SDK's package is also named `agents`, like
this repository's Django app, so the example runs in its own process, as a file (see its docstring).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from django.conf import settings

from agents.models import Channel
from escalations.models import Escalation
from tests.examples.conftest import WITHIN, escalation_of_running, example_env

pytestmark = pytest.mark.slow

try:
    importlib.metadata.version("openai-agents")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("needs the `examples` extra: pip install -e '.[examples]'", allow_module_level=True)


def test_the_sdk_agent_escalates_over_mcp_and_answers_with_the_persons_guidance(billing):
    program = subprocess.Popen(
        [sys.executable, "examples/openai_agent/agent.py", "I want a refund of $150, the blender broke."],
        cwd=settings.BASE_DIR,
        # No OPENAI_API_KEY: were anything sent to OpenAI, the run would fail.
        env={**example_env(billing), "OPENAI_API_KEY": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        escalation = escalation_of_running(program, billing.agent)
        # The tool call is still waiting on the server for a person.
        assert program.poll() is None
        answered = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/respond/", json={"guidance": "Refund $150 and apologise."}
        )
        assert answered.status_code == 200, answered.text
        out, err = program.communicate(timeout=WITHIN)
    finally:
        program.kill()

    assert program.returncode == 0, err
    assert out.strip() == (
        f"Thank you for waiting. A person answered escalation {escalation.pk} (ana). "
        "Resume with this guidance:\nRefund $150 and apologise."
    )
    assert (escalation.origin, escalation.severity, escalation.reason) == (
        "tool_call",
        "warning",
        "The customer asks for a refund.",
    )
    # The model's context argument is on the person's card; the conversation is one the MCP server opened.
    [context] = [item for item in escalation.evidence if item["kind"] == "context"]
    assert context["text"] == "The customer wrote: I want a refund of $150, the blender broke."
    assert escalation.conversation.channel == Channel.MCP
    assert Escalation.objects.get(pk=escalation.pk).status == "resolved"
