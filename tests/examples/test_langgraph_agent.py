"""examples/langgraph_agent: the tool's interrupt() and the resume with the human's answer, against daphne."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("langgraph", reason="needs the `examples` extra: pip install -e '.[examples]'")

from escalation_console import Client  # noqa: E402
from langgraph.types import Command  # noqa: E402

from escalations.models import Escalation  # noqa: E402
from examples.langgraph_agent.agent import (  # noqa: E402
    ScriptedChatModel,
    build_graph,
    chat,
    guidance_from,
    make_escalate_tool,
)
from tests.examples.conftest import WITHIN, open_escalation_of, wait_for  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def agent(billing):
    with Client(billing.base, billing.agent_key, timeout=30) as client:
        yield client, build_graph(ScriptedChatModel(), [make_escalate_tool(client)])


def test_the_tool_pauses_the_graph_until_the_guidance_resumes_it(billing, agent):
    client, graph = agent
    config = {"configurable": {"thread_id": "lg-1"}}

    paused = graph.invoke({"messages": [("user", "I want a refund of $150.")]}, config)

    [request] = paused["__interrupt__"]
    escalation = Escalation.objects.get(pk=request.value["escalation_id"])
    assert (escalation.status, escalation.origin, escalation.severity) == ("open", "tool_call", "warning")
    assert escalation.reason == "Customer asks: I want a refund of $150."
    assert escalation.conversation.external_id == "lg-1"
    assert graph.get_state(config).next == ("tools",)  # stopped inside the tool node

    answered = billing.as_supervisor(
        "POST", f"/escalations/{escalation.pk}/respond/", json={"guidance": "Refund it, it was late."}
    )
    assert answered.status_code == 200, answered.text
    resolution = client.wait_for_resolution(escalation.pk)
    done = graph.invoke(Command(resume=guidance_from(resolution)), config)

    assert done["messages"][-1].content == (
        "Thank you for waiting. Guidance from your supervisor: Refund it, it was late."
    )
    assert done["messages"][-2].content == "Guidance from your supervisor: Refund it, it was late."
    assert graph.get_state(config).next == ()
    # The tool ran twice (LangGraph re-runs it on resume); its Idempotency-Key made that one escalation.
    assert Escalation.objects.filter(agent=billing.agent).count() == 1


def test_chat_waits_on_the_long_poll_and_goes_on_alone_when_dismissed(billing, agent):
    client, graph = agent
    replies: list[str] = []
    talking = threading.Thread(target=lambda: replies.append(chat(graph, client, "lg-2", "Refund me now!")))
    talking.start()
    try:
        escalation = wait_for(lambda: open_escalation_of(billing.agent), "the tool's escalation")
        assert talking.is_alive()  # waiting for the human
        dismissed = billing.as_supervisor(
            "POST", f"/escalations/{escalation.pk}/dismiss/", json={"note": "Standard refund, no approval."}
        )
        assert dismissed.status_code == 200, dismissed.text
    finally:
        talking.join(WITHIN)

    assert replies == [
        "Thank you for waiting. Your supervisor left this to you (Standard refund, no approval.): "
        "decide on your own."
    ]
    assert Escalation.objects.get(pk=escalation.pk).status == "dismissed"
