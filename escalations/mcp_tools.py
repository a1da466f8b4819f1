"""The MCP server's tools: escalate_to_human and its companions, for agent runtimes that speak MCP.

Served at /mcp/ by escalations/mcp_http.py, which authenticates the agent key
and sets `calling_agent` for the call. Each tool does what its REST endpoint
does, with the same serializers (validation), selectors (scoping) and services
(writes, audit, events): there is no second write path. The wait is the REST
long-poll's (escalations/api/longpoll.wait_until_final), in slices, with a
progress notification after each so that clients which give up on a quiet
request keep waiting.

The stdio bridge of the Python client (clients/python/src/escalation_console/
mcp_stdio.py) serves these tools over the REST API with the same words; it cannot
import Django, so a wording changed here is changed there too
(tests/client/test_mcp_stdio.py compares the two lists).
"""

from __future__ import annotations

import asyncio
import uuid
from contextvars import ContextVar
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from rest_framework import serializers

from agents.models import Agent, Channel
from agents.services import post_message as post_message_service
from escalation_project.errors import DomainError
from escalations import idempotency, services
from escalations.api import serializers as s
from escalations.api.longpoll import wait_until_final
from escalations.models import FINAL_STATUSES, Status
from escalations.selectors import conversations_visible_to, escalation_with_relations, escalations_visible_to
from escalations.tool_call import escalate_to_human as open_tool_call

# The agent whose key authenticated this request (set by escalations/mcp_http.py).
calling_agent: ContextVar[Agent] = ContextVar("mcp_calling_agent")

# A progress notification at least this often while a tool waits. Clients commonly give up on a
# request quiet for 60 s (unless progress resets their clock), so well under that.
PROGRESS_EVERY_SECONDS = 15
# How long escalate_to_human and check_escalation wait when the model does not say, and at most.
DEFAULT_WAIT_SECONDS = 300
MAX_WAIT_SECONDS = 1800

SEVERITY_GUIDE = (
    "severity: 'info' = a question or a doubt, no harm if it waits a little; 'warning' = the customer "
    "is blocked or unhappy, or money or data is involved; 'critical' = legal, safety or security "
    "exposure, an angry customer threatening to leave, or an irreversible action about to happen "
    "(it goes to the top of the queue)."
)
# The JSON schema's enums, so the model sees the choices (the serializers check them again).
SeverityName = Literal["info", "warning", "critical"]
RoleName = Literal["user", "agent", "tool", "system"]

server = MCPServer(
    name="escalation-console",
    instructions=(
        "Escalation Console: hand a decision to a human supervisor when you should not decide alone, "
        "and wait for their guidance. Call escalate_to_human before irreversible actions (deleting, "
        "sending money, closing accounts), refunds or exceptions to policy, legal threats, and when a "
        "customer is angry or asks for a person. " + SEVERITY_GUIDE
    ),
)


def _agent() -> Agent:
    try:
        return calling_agent.get()
    except LookupError:  # only reachable if the server is mounted without escalations/mcp_http.py
        raise ToolError("Not authenticated: send Authorization: Bearer <agent API key>.") from None


def _scope(agent: Agent) -> dict[str, Any]:
    return {"agent": agent, "user": None}


def _messages(detail: Any) -> str:
    """A serializer's or service's field errors as one line the model can act on."""
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_messages(value)}" for field, value in detail.items())
    if isinstance(detail, list | tuple):
        return " ".join(_messages(item) for item in detail)
    return str(detail)


def _refusal(error: Exception) -> ToolError:
    """The REST API's refusals (400, 404, 409...) as a tool error: the same words, no HTTP status."""
    if isinstance(error, serializers.ValidationError):
        return ToolError(f"Invalid arguments: {_messages(error.detail)}")
    if isinstance(error, DjangoValidationError):
        detail = error.message_dict if hasattr(error, "error_dict") else error.messages
        return ToolError(f"Invalid arguments: {_messages(detail)}")
    return ToolError(getattr(error, "message", str(error)))  # a DomainError: the API's 409 words


async def _db(function, /, *args: Any, **kwargs: Any) -> Any:
    """Run ORM code off the event loop and give its connection back, as the long-poll does."""

    def run() -> Any:
        try:
            return function(*args, **kwargs)
        except (serializers.ValidationError, DjangoValidationError, DomainError) as error:
            raise _refusal(error) from None
        finally:
            if not connection.in_atomic_block:
                connection.close()

    return await sync_to_async(run)()


def _visible_body(agent: Agent, escalation_id: int) -> dict[str, Any]:
    escalation = escalations_visible_to(**_scope(agent)).filter(pk=escalation_id).first()
    if escalation is None:
        # Another agent's escalation reads exactly like one that does not exist (the API's 404).
        raise ToolError(f"There is no escalation {escalation_id}.")
    return s.escalation_body(escalation_with_relations().get(pk=escalation.pk), **_scope(agent))


def _wait_seconds(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise ToolError(f"Invalid arguments: wait_seconds: between 0 and {MAX_WAIT_SECONDS}.")
    return value


async def _wait(ctx: Context, agent: Agent, body: dict[str, Any], seconds: int) -> dict[str, Any]:
    """The escalation's body once final, or as it is after `seconds`; reports progress meanwhile."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while body["status"] not in FINAL_STATUSES:
        waited = loop.time() - started
        remaining = seconds - waited
        if remaining <= 0:
            break
        await ctx.report_progress(
            waited, seconds, f"Waiting for a person to answer escalation {body['id']} ({body['status']})."
        )
        answer = await wait_until_final(
            body["id"],
            team_id=body["team"]["id"],
            scope=_scope(agent),
            seconds=min(PROGRESS_EVERY_SECONDS, remaining),
        )
        if answer is None:  # the channel layer is unreachable: say where things stand, not wait blind
            break
        body = answer
    return body


def _outcome(body: dict[str, Any]) -> str:
    """What the model should do next, in words."""
    pk, resolution = body["id"], body["resolution"]
    if body["status"] == Status.RESOLVED:
        return (
            f"A person answered escalation {pk} ({resolution['responder'] or 'automatically'}). "
            f"Resume with this guidance:\n{resolution['guidance']}"
        )
    if body["status"] == Status.DISMISSED:
        note = f" Their note: {resolution['note']}" if resolution["note"] else ""
        return f"Escalation {pk} was dismissed — proceed on your own judgement.{note}"
    if body["status"] == Status.WITHDRAWN:
        return f"Escalation {pk} was withdrawn: no person will answer it."
    return (
        f"No answer yet: escalation {pk} is {body['status']}. Call check_escalation with id={pk} "
        "(and wait_seconds) to wait again, or withdraw_escalation if it is no longer needed."
        + (" The conversation stays paused until a person answers." if body["blocking"] else "")
    )


def _open(agent: Agent, arguments: dict[str, Any]) -> dict[str, Any]:
    escalate = s.EscalateSerializer(data=arguments)
    escalate.is_valid(raise_exception=True)
    data = dict(escalate.validated_data)
    result = open_tool_call(
        agent=agent,
        conversation_id=data.pop("conversation_id", None),
        external_id=data.pop("conversation", ""),
        **data,
    )
    return s.escalation_body(result.escalation, agent=agent)


def _open_once(agent: Agent, arguments: dict[str, Any], requested: dict[str, Any], key: str):
    """_open, or with an idempotency key the escalation the first call with that key opened.

    The REST API's Idempotency-Key, as a tool argument (MCP has no request headers of its own):
    same key and arguments give the first call's escalation; other arguments, or the first call
    still running, are refused with the API's words.
    """
    if not key:
        return _open(agent, arguments)
    if len(key) > 200:
        raise ToolError("Invalid arguments: idempotency_key: at most 200 characters.")
    fingerprint = idempotency.fingerprint(method="MCP", path="escalate_to_human", body=requested)
    try:
        claim = idempotency.idempotency_claim(agent=agent, key=key, request_fingerprint=fingerprint)
    except idempotency.KeyReused:
        raise ToolError("This idempotency_key was already used with other arguments.") from None
    except idempotency.KeyInFlight:
        raise ToolError("A call with this idempotency_key is still being processed; retry shortly.") from None
    if claim.replay:
        return _visible_body(agent, claim.record.response_body["id"])
    try:
        body = _open(agent, arguments)
    except BaseException:
        # A failed call does not use up the key: the retry does the work.
        idempotency.idempotency_release(record=claim.record)
        raise
    idempotency.idempotency_complete(record=claim.record, status_code=200, body={"id": body["id"]})
    return body


@server.tool(
    description=(
        "Ask a human supervisor and wait for their answer. Call it BEFORE an irreversible action "
        "(deleting data, sending money, closing an account), a refund or an exception to policy, when "
        "the customer threatens legal action, is angry or asks for a person, or when you are unsure and "
        "a mistake would be costly. It returns the person's guidance (do what it says), or that it was "
        "dismissed (proceed on your own judgement), or, if nobody answered within wait_seconds, the "
        "escalation id to pass to check_escalation. " + SEVERITY_GUIDE + " reason: one sentence a busy "
        "person understands without reading the conversation. context: the facts they need (amounts, "
        "order ids, what the customer said). conversation_id: the Escalation Console conversation id you "
        "got from post_message's caller, if any; otherwise a new conversation is opened. blocking=false: "
        "you carry on and the person only sees a card. wait_seconds: how long to wait (default 300). "
        "idempotency_key: any unique string; repeating the call with it (after a lost connection) "
        "returns the same escalation instead of opening a second one."
    )
)
async def escalate_to_human(
    reason: str,
    severity: SeverityName,
    ctx: Context,
    context: str = "",
    conversation_id: int | None = None,
    blocking: bool = True,
    wait_seconds: int | None = None,
    idempotency_key: str = "",
) -> str:
    agent = _agent()
    wait = _wait_seconds(wait_seconds, DEFAULT_WAIT_SECONDS if blocking else 0)
    # context: shown on the card like a rule's evidence (the REST API's field of the same name).
    arguments: dict[str, Any] = {
        "reason": reason,
        "severity": severity,
        "blocking": blocking,
        "context": context,
    }
    requested = {**arguments, "conversation_id": conversation_id}
    if conversation_id is not None:
        arguments["conversation_id"] = conversation_id
    else:
        # A conversation of its own, marked as opened over MCP.
        arguments.update(conversation=f"mcp-{uuid.uuid4().hex}", channel=Channel.MCP)
    body = await _db(_open_once, agent, arguments, requested, idempotency_key.strip())
    body = await _wait(ctx, agent, body, wait)
    if body["status"] not in FINAL_STATUSES and not blocking and wait == 0:
        return f"Escalation {body['id']} opened; a person will see it. You may carry on."
    return _outcome(body)


@server.tool(
    description=(
        "The state of an escalation you opened: the person's guidance once answered, 'dismissed' (proceed "
        "on your own judgement), or still waiting. wait_seconds > 0 waits that long for the answer."
    )
)
async def check_escalation(id: int, ctx: Context, wait_seconds: int | None = None) -> str:
    agent = _agent()
    wait = _wait_seconds(wait_seconds, 0)
    body = await _db(_visible_body, agent, id)
    return _outcome(await _wait(ctx, agent, body, wait))


def _post(agent: Agent, conversation_id: int, role: str, content: str) -> dict[str, Any]:
    conversation = conversations_visible_to(**_scope(agent)).filter(pk=conversation_id).first()
    if conversation is None:
        raise ToolError(f"There is no conversation {conversation_id}.")
    message = s.MessageCreateSerializer(data={"role": role, "content": content})
    message.is_valid(raise_exception=True)
    posted = post_message_service(conversation=conversation, **message.validated_data)
    return {
        "message_id": posted.message.pk,
        "escalated": posted.escalation is not None,
        "escalation_id": posted.escalation.pk if posted.escalation else None,
        "rules": [hit.rule_name for hit in posted.hits],
        "paused": posted.paused,
    }


@server.tool(
    description=(
        "Record a message of a conversation you are having (role: 'user' for the customer, 'agent' for "
        "you). The team's escalation rules run on it: the result says whether a rule escalated "
        "(escalation_id) and whether the conversation is now paused — if paused, do not answer the "
        "customer yet: call check_escalation with the escalation_id and wait for the person's guidance."
    )
)
async def post_message(conversation_id: int, role: RoleName, content: str) -> dict[str, Any]:
    agent = _agent()
    return await _db(_post, agent, conversation_id, role, content)


def _withdraw(agent: Agent, escalation_id: int, reason: str) -> str:
    _visible_body(agent, escalation_id)
    withdraw = s.WithdrawSerializer(data={"reason": reason})
    withdraw.is_valid(raise_exception=True)
    services.withdraw(escalation_id=escalation_id, agent=agent, **withdraw.validated_data)
    return f"Escalation {escalation_id} is withdrawn; the conversation is no longer paused."


@server.tool(
    description=(
        "Withdraw an escalation you opened that no longer needs a person (the customer left, the problem "
        "solved itself). Refused if a person already answered it."
    )
)
async def withdraw_escalation(id: int, reason: str = "") -> str:
    agent = _agent()
    return await _db(_withdraw, agent, id, reason)
