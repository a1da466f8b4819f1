"""An OpenAI Agents SDK agent that asks a human through the console's MCP server (/mcp/).

    ESCALATION_API_URL=http://127.0.0.1:8000 ESCALATION_AGENT_KEY=ak_… \\
        python examples/openai_agent/agent.py "I want a refund of \\$150."

The agent gets the console's tools (escalate_to_human, check_escalation,
post_message, withdraw_escalation) from `MCPServerStreamableHttp`, which
connects to /mcp/ with the agent's key. When the model calls
escalate_to_human, the call blocks on the server until a supervisor answers in
the console (progress notifications keep it alive), and the tool's result is
the guidance: the model goes on with it.

The model here is ScriptedSupportModel, a stand-in with no network that calls
escalate_to_human on a refund request and then passes on what the tool said.
With `--model gpt-5-mini` (and OPENAI_API_KEY set) a real model decides instead.

Run it as a file, not with `python -m examples…`: from this repository's root
its Django app `agents/` would shadow the SDK's `agents` package. In your own
project there is no such clash.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from agents.mcp import MCPServerStreamableHttp
from agents.testing import assistant_message, function_call

# The SDK's package too; ruff sorts it apart, taking it for this repository's Django app `agents`.
from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage

# How long one tool call may take, in seconds: escalate_to_human waits up to 300 s for a person when
# the model gives no wait_seconds (then it returns the escalation id to check again), so a bit more.
# The SDK's default (5 s) would give up on any escalation nobody answers at once.
TOOL_CALL_SECONDS = 330

INSTRUCTIONS = (
    "You are a support agent. Before a refund, an exception to policy or anything that cannot be undone, "
    "and whenever the customer is angry or mentions legal action, call escalate_to_human and do what "
    "the person's guidance says; if it was dismissed, decide on your own."
)


def console_mcp_server(base_url: str, agent_key: str) -> MCPServerStreamableHttp:
    """The console's MCP server, authenticated as the agent (its `ak_…` key, as for the REST API)."""
    return MCPServerStreamableHttp(
        params={
            "url": base_url.rstrip("/") + "/mcp/",
            "headers": {"Authorization": f"Bearer {agent_key}"},
            "timeout": 30,
            "sse_read_timeout": TOOL_CALL_SECONDS,
        },
        name="escalation-console",
        client_session_timeout_seconds=TOOL_CALL_SECONDS,
        cache_tools_list=True,  # the tools do not change while the agent runs
    )


def build_agent(server: MCPServerStreamableHttp, model: Model | str) -> Agent:
    return Agent(name="Support agent", instructions=INSTRUCTIONS, mcp_servers=[server], model=model)


def _text(output: Any) -> str:
    """A tool result as the model reads it: a string, or a list of content parts."""
    if isinstance(output, str):
        return output
    return "\n".join(part.get("text", "") for part in output if isinstance(part, dict))


class ScriptedSupportModel(Model):
    """A stand-in for an LLM, with no network, on the SDK's Model interface: calls escalate_to_human on
    a refund request, then passes on what the tool returned."""

    async def get_response(
        self,
        system_instructions,
        input,
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing,
        **kwargs: Any,
    ) -> ModelResponse:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else input
        last = items[-1]
        if last.get("type") == "function_call_output":
            reply = assistant_message(f"Thank you for waiting. {_text(last['output'])}")
        elif last.get("role") == "user" and "refund" in str(last.get("content")).lower():
            arguments = {
                "reason": "The customer asks for a refund.",
                "severity": "warning",
                "context": f"The customer wrote: {last['content']}",
            }
            reply = function_call("escalate_to_human", arguments, call_id=f"call_{len(items)}")
        else:
            reply = assistant_message("How else can I help?")
        return ModelResponse(output=[reply], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any):
        raise NotImplementedError("the scripted model answers Runner.run only, not Runner.run_streamed")


async def ask(base_url: str, agent_key: str, text: str, model: Model | str) -> str:
    """One customer message in; the agent's final answer out, after a person answered if it asked one."""
    async with console_mcp_server(base_url, agent_key) as server:
        agent = build_agent(server, model)
        # The stand-in sends nothing anywhere, traces included (they go to OpenAI by default).
        config = RunConfig(tracing_disabled=isinstance(model, ScriptedSupportModel))
        result = await Runner.run(agent, text, run_config=config)
        return str(result.final_output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="An OpenAI model (needs OPENAI_API_KEY); default: the scripted one.")
    parser.add_argument("message", help="The customer's message.")
    args = parser.parse_args(argv)
    url = os.environ.get("ESCALATION_API_URL", "http://127.0.0.1:8000")  # `make run`'s address
    model = args.model or ScriptedSupportModel()
    print(asyncio.run(ask(url, os.environ["ESCALATION_AGENT_KEY"], args.message, model)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
