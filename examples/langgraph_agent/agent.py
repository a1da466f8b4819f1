"""An `escalate_to_human` tool for LangGraph: interrupt() pauses the graph, the human's answer resumes it.

    ESCALATION_API_URL=http://127.0.0.1:8000 ESCALATION_AGENT_KEY=ak_… \\
        python -m examples.langgraph_agent.agent --thread chat-7 "I want a refund of \\$150."

The tool opens the escalation in the console with the `escalation_console`
client (`client.escalate`), then calls interrupt() with its id. The graph
stops, its state kept by the checkpointer, and `chat()` waits for the
supervisor's answer (`client.wait_for_resolution`, on the long-poll). It
resumes the graph with Command(resume=<the guidance>): LangGraph runs the tool
again from its start, the idempotency key (the thread and the tool call's id)
makes that second escalate return the same escalation instead of opening
another, and interrupt() now returns the guidance, which the tool hands back
to the model as its result.

The model here is ScriptedChatModel, a stand-in with no network: it calls the
tool when the customer asks for a refund and then repeats the guidance. Put a
real chat model with `.bind_tools([escalate_to_human])` in its place.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Annotated, Any

from escalation_console import Client, Resolution
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt


def make_escalate_tool(client: Client) -> BaseTool:
    @tool
    def escalate_to_human(
        reason: str,
        severity: str,
        config: RunnableConfig,
        tool_call_id: Annotated[str, InjectedToolCallId],
    ) -> str:
        """Ask a human supervisor when you must not decide alone (refunds over your limit, legal
        threats, an angry customer). severity: info, warning or critical. Returns their guidance."""
        thread = config["configurable"]["thread_id"]
        escalation = client.escalate(
            reason,
            severity,
            conversation=thread,  # the thread is the conversation: made in the console on first use
            # The same on the re-run after resume (and on a retry): one escalation per tool call.
            idempotency_key=f"langgraph:{thread}:{tool_call_id}",
        )
        return interrupt({"escalation_id": escalation.id, "reason": reason})

    return escalate_to_human


def guidance_from(resolution: Resolution) -> str:
    """The tool's result, from how the escalation ended: what the model reads next."""
    if resolution.outcome == "resumed":
        return f"Guidance from your supervisor: {resolution.guidance}"
    note = f" ({resolution.note})" if resolution.note else ""
    return f"Your supervisor left this to you{note}: decide on your own."


class ScriptedChatModel(BaseChatModel):
    """A stand-in for an LLM, with no network: calls escalate_to_human on a refund request, then
    passes on what the tool returned."""

    def _generate(
        self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"Thank you for waiting. {last.content}")
        elif isinstance(last, HumanMessage) and "refund" in str(last.content).lower():
            call = {
                "name": "escalate_to_human",
                "args": {"reason": f"Customer asks: {last.content}", "severity": "warning"},
                "id": f"call_{len(messages)}",
            }
            reply = AIMessage(content="", tool_calls=[call])
        else:
            reply = AIMessage(content="How else can I help?")
        return ChatResult(generations=[ChatGeneration(message=reply)])

    @property
    def _llm_type(self) -> str:
        return "scripted"


def build_graph(model: BaseChatModel, tools: list[BaseTool], checkpointer=None):
    """The usual tool-calling loop: the model, then its tool calls, then the model again."""

    def call_model(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", call_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    # interrupt() needs a checkpointer: the paused state is kept there until the resume.
    return graph.compile(checkpointer=checkpointer or InMemorySaver())


def resume_when_answered(graph, client: Client, config: RunnableConfig, result: dict) -> dict:
    """While the graph is paused on escalate_to_human, wait for the human and resume it."""
    while result.get("__interrupt__"):
        request = result["__interrupt__"][0].value
        resolution = client.wait_for_resolution(request["escalation_id"])
        result = graph.invoke(Command(resume=guidance_from(resolution)), config)
    return result


def chat(graph, client: Client, thread: str, text: str) -> str:
    """One customer message in; the agent's reply out, after a human answered if it asked one."""
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    result = graph.invoke({"messages": [HumanMessage(text)]}, config)
    return resume_when_answered(graph, client, config, result)["messages"][-1].content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--thread", required=True, help="The conversation: your id of it.")
    parser.add_argument("messages", nargs="+")
    args = parser.parse_args(argv)
    url = os.environ.get("ESCALATION_API_URL", "http://127.0.0.1:8000")  # `make run`'s address
    with Client(url, os.environ["ESCALATION_AGENT_KEY"]) as client:
        graph = build_graph(ScriptedChatModel(), [make_escalate_tool(client)])
        for text in args.messages:
            print(chat(graph, client, args.thread, text), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
