"""escalation-console-mcp: the MCP server on stdio, for desktop clients (Claude Desktop, Cursor).

A desktop client starts this script and speaks MCP on its stdin and stdout; each tool
calls the REST API through AsyncClient, with the address and agent key from
ESCALATION_API_URL and ESCALATION_AGENT_KEY. The four tools are the ones the product
serves over Streamable HTTP at /mcp/ (escalations/mcp_tools.py): the same names,
arguments, descriptions and answers. That module runs inside the Django project and this
one must not import Django, so the wording is written in both;
tests/client/test_mcp_stdio.py checks that the two lists of tools stay identical.

Needs the `mcp` extra: pip install "escalation-console-client[mcp]".
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

try:
    import anyio
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as missing:  # the client installed without its extra
    raise SystemExit(
        f'escalation-console-mcp needs the MCP SDK ({missing}): pip install "escalation-console-client[mcp]"'
    ) from None

from escalation_console import errors
from escalation_console.client import AsyncClient
from escalation_console.models import Escalation

# The same figures as the server's tools (escalations/mcp_tools.py).
PROGRESS_EVERY_SECONDS = 15
DEFAULT_WAIT_SECONDS = 300
MAX_WAIT_SECONDS = 1800

SEVERITY_GUIDE = (
    "severity: 'info' = a question or a doubt, no harm if it waits a little; 'warning' = the customer "
    "is blocked or unhappy, or money or data is involved; 'critical' = legal, safety or security "
    "exposure, an angry customer threatening to leave, or an irreversible action about to happen "
    "(it goes to the top of the queue)."
)
INSTRUCTIONS = (
    "Escalation Console: hand a decision to a human supervisor when you should not decide alone, "
    "and wait for their guidance. Call escalate_to_human before irreversible actions (deleting, "
    "sending money, closing accounts), refunds or exceptions to policy, legal threats, and when a "
    "customer is angry or asks for a person. " + SEVERITY_GUIDE
)
ESCALATE_DESCRIPTION = (
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
CHECK_DESCRIPTION = (
    "The state of an escalation you opened: the person's guidance once answered, 'dismissed' (proceed "
    "on your own judgement), or still waiting. wait_seconds > 0 waits that long for the answer."
)
POST_MESSAGE_DESCRIPTION = (
    "Record a message of a conversation you are having (role: 'user' for the customer, 'agent' for "
    "you). The team's escalation rules run on it: the result says whether a rule escalated "
    "(escalation_id) and whether the conversation is now paused — if paused, do not answer the "
    "customer yet: call check_escalation with the escalation_id and wait for the person's guidance."
)
WITHDRAW_DESCRIPTION = (
    "Withdraw an escalation you opened that no longer needs a person (the customer left, the problem "
    "solved itself). Refused if a person already answered it."
)

SeverityName = Literal["info", "warning", "critical"]
RoleName = Literal["user", "agent", "tool", "system"]

# A conversation opened by escalate_to_human with an idempotency key is named after the key, so
# a retry sends the same body and gets the first escalation back (the API compares bodies).
_KEYED_CONVERSATIONS = uuid.UUID("6f1d2c1e-6a53-4a4e-9a0b-2f4c1f0e5d77")


class ConfigurationError(Exception):
    """ESCALATION_API_URL or ESCALATION_AGENT_KEY is missing or malformed."""


def settings_from(environ: Mapping[str, str]) -> tuple[str, str]:
    """(API address, agent key) from the environment; ConfigurationError says what to fix."""
    url = environ.get("ESCALATION_API_URL", "").strip()
    key = environ.get("ESCALATION_AGENT_KEY", "").strip()
    if not url:
        raise ConfigurationError(
            "ESCALATION_API_URL is not set: the console's address, e.g. http://127.0.0.1:8000"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"ESCALATION_API_URL={url!r} is not an http(s) address, e.g. http://127.0.0.1:8000"
        )
    if not key:
        raise ConfigurationError("ESCALATION_AGENT_KEY is not set: the agent's API key (ak_…)")
    if not key.startswith("ak_"):
        raise ConfigurationError(
            "ESCALATION_AGENT_KEY is not an agent API key: those start with ak_ "
            "(a supervisor's token cannot call the agent tools)"
        )
    return url, key


def _messages(fields: Mapping[str, Any]) -> str:
    """The API's field errors as one line, as the server's tools word them."""
    return "; ".join(
        f"{field}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
        for field, value in fields.items()
    )


def _tool_error(error: errors.EscalationConsoleError, url: str, *, not_found: str) -> ToolError:
    """An API refusal as the server's tools word it (no HTTP status); `not_found` for a 404."""
    if isinstance(error, errors.ValidationError):
        return ToolError(f"Invalid arguments: {_messages(error.fields) or error.message}")
    if isinstance(error, errors.NotFound):
        return ToolError(not_found)
    if isinstance(error, errors.IdempotencyKeyReused):
        return ToolError("This idempotency_key was already used with other arguments.")
    if isinstance(error, errors.IdempotencyKeyInFlight):
        return ToolError("A call with this idempotency_key is still being processed; retry shortly.")
    if isinstance(error, errors.AuthenticationError):
        return ToolError(
            f"The Escalation Console at {url} refused ESCALATION_AGENT_KEY ({error.message}): "
            "set it to a current API key of your agent, then restart this MCP server."
        )
    if isinstance(error, errors.ConnectionFailed):
        return ToolError(
            f"Cannot reach the Escalation Console at {url} (ESCALATION_API_URL): {error.message}"
        )
    return ToolError(error.message)


def _wait_seconds(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise ToolError(f"Invalid arguments: wait_seconds: between 0 and {MAX_WAIT_SECONDS}.")
    return value


def _outcome(escalation: Escalation) -> str:
    """What the model should do next, in words (the server's tools' words)."""
    pk, resolution = escalation.id, escalation.resolution
    if escalation.status == "resolved" and resolution is not None:
        return (
            f"A person answered escalation {pk} ({resolution.responder or 'automatically'}). "
            f"Resume with this guidance:\n{resolution.guidance}"
        )
    if escalation.status == "dismissed" and resolution is not None:
        note = f" Their note: {resolution.note}" if resolution.note else ""
        return f"Escalation {pk} was dismissed — proceed on your own judgement.{note}"
    if escalation.status == "withdrawn":
        return f"Escalation {pk} was withdrawn: no person will answer it."
    return (
        f"No answer yet: escalation {pk} is {escalation.status}. Call check_escalation with id={pk} "
        "(and wait_seconds) to wait again, or withdraw_escalation if it is no longer needed."
        + (" The conversation stays paused until a person answers." if escalation.blocking else "")
    )


def build_server(client: AsyncClient, url: str) -> MCPServer:
    """The four tools over `client`; `url` only names the console in error messages."""
    # WARNING: a desktop client's MCP log gets problems, not a line per long-poll request.
    server = MCPServer(name="escalation-console", instructions=INSTRUCTIONS, log_level="WARNING")

    async def call(request, *, not_found: str = "") -> Any:
        try:
            return await request
        except errors.EscalationConsoleError as error:
            raise _tool_error(error, url, not_found=not_found) from None

    async def wait(ctx: Context, escalation: Escalation, seconds: int) -> Escalation:
        """The escalation once final, or as it is after `seconds`; reports progress meanwhile."""
        started = time.monotonic()
        while not escalation.final:
            waited = time.monotonic() - started
            remaining = seconds - waited
            if remaining <= 0:
                break
            await ctx.report_progress(
                waited,
                seconds,
                f"Waiting for a person to answer escalation {escalation.id} ({escalation.status}).",
            )
            # The REST long-poll, in slices short enough for a progress notification after each.
            escalation = await call(
                client.get_escalation(escalation.id, wait=math.ceil(min(PROGRESS_EVERY_SECONDS, remaining))),
                not_found=f"There is no escalation {escalation.id}.",
            )
        return escalation

    @server.tool(description=ESCALATE_DESCRIPTION)
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
        seconds = _wait_seconds(wait_seconds, DEFAULT_WAIT_SECONDS if blocking else 0)
        key = idempotency_key.strip()
        if len(key) > 200:
            raise ToolError("Invalid arguments: idempotency_key: at most 200 characters.")
        where: dict[str, Any] = {"conversation_id": conversation_id}
        if conversation_id is None:
            # A conversation of its own, marked as opened over MCP.
            name = uuid.uuid5(_KEYED_CONVERSATIONS, key) if key else uuid.uuid4()
            where = {"conversation": f"mcp-{name.hex}", "channel": "mcp"}
        escalation = await call(
            client.escalate(
                reason,
                severity,
                context=context.strip(),
                blocking=blocking,
                idempotency_key=key or None,
                **where,
            ),
        )
        escalation = await wait(ctx, escalation, seconds)
        if not escalation.final and not blocking and seconds == 0:
            return f"Escalation {escalation.id} opened; a person will see it. You may carry on."
        return _outcome(escalation)

    @server.tool(description=CHECK_DESCRIPTION)
    async def check_escalation(id: int, ctx: Context, wait_seconds: int | None = None) -> str:
        seconds = _wait_seconds(wait_seconds, 0)
        escalation = await call(client.get_escalation(id), not_found=f"There is no escalation {id}.")
        return _outcome(await wait(ctx, escalation, seconds))

    @server.tool(description=POST_MESSAGE_DESCRIPTION)
    async def post_message(conversation_id: int, role: RoleName, content: str) -> dict[str, Any]:
        posted = await call(
            client.post_message(conversation_id, role, content),
            not_found=f"There is no conversation {conversation_id}.",
        )
        return {
            "message_id": posted.message.id,
            "escalated": posted.escalation is not None,
            "escalation_id": posted.escalation.id if posted.escalation else None,
            "rules": [hit["rule_name"] for hit in posted.hits],
            "paused": posted.paused,
        }

    @server.tool(description=WITHDRAW_DESCRIPTION)
    async def withdraw_escalation(id: int, reason: str = "") -> str:
        await call(client.withdraw(id, reason=reason), not_found=f"There is no escalation {id}.")
        return f"Escalation {id} is withdrawn; the conversation is no longer paused."

    return server


async def _check_key(client: AsyncClient, url: str) -> None:
    """Refuse to start with a key the console refuses: the desktop client's log then says why."""
    try:
        await client.events_page(limit=1)
    except errors.AuthenticationError as error:
        raise ConfigurationError(
            f"the Escalation Console at {url} refused ESCALATION_AGENT_KEY ({error.message}): "
            "use a current API key of your agent"
        ) from None
    except errors.ConnectionFailed:
        # The console may come up later: each tool call says it cannot reach it until then.
        print(f"escalation-console-mcp: cannot reach {url} yet; starting anyway", file=sys.stderr)


async def serve(url: str, key: str) -> None:
    async with AsyncClient(url, key, timeout=30) as client:
        await _check_key(client, url)
        await build_server(client, url).run_stdio_async()


def main() -> None:
    """The console script: exits with a message on stderr when the settings are wrong."""
    try:
        url, key = settings_from(os.environ)
        anyio.run(serve, url, key)
    except ConfigurationError as error:
        raise SystemExit(f"escalation-console-mcp: {error}") from None


if __name__ == "__main__":
    main()
