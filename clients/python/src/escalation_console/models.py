"""Typed results: the API's JSON bodies as dataclasses; `raw` keeps the whole body.

Results that can act (Escalation.wait, Conversation.post_message) hold the
client that fetched them; with an AsyncClient their methods return coroutines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# Statuses of an escalation that will not change again.
FINAL_STATUSES = frozenset({"resolved", "dismissed", "withdrawn"})


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Resolution:
    """How a final escalation ended. outcome: "resumed" (a person answered: go on with `guidance`),
    "dismissed" (proceed on your own judgement; `note` says why) or "withdrawn" (by the agent)."""

    outcome: str
    guidance: str
    note: str
    responder: str | None
    at: dt.datetime | None
    automatic: bool

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Resolution:
        return cls(
            outcome=body["outcome"],
            guidance=body.get("guidance") or "",
            note=body.get("note") or "",
            responder=body.get("responder"),
            at=parse_time(body.get("at")),
            automatic=bool(body.get("automatic")),
        )


@dataclass(frozen=True)
class Escalation:
    id: int
    status: str
    severity: str
    urgency: str
    reason: str
    topic: str
    area: str
    blocking: bool
    origin: str
    conversation_id: int | None
    conversation_external_id: str | None
    created_at: dt.datetime | None
    resolution: Resolution | None
    allowed_verbs: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)
    # True when this call was added to the conversation's open escalation (HTTP 200, not 201).
    added_to_existing: bool = False
    _client: Any = field(default=None, repr=False, compare=False)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_api(cls, body: dict[str, Any], client: Any = None, *, added: bool = False) -> Escalation:
        conversation = body.get("conversation") or {}
        resolution = body.get("resolution")
        return cls(
            id=body["id"],
            status=body["status"],
            severity=body.get("severity", ""),
            urgency=body.get("urgency", ""),
            reason=body.get("reason", ""),
            topic=body.get("topic", ""),
            area=body.get("area", ""),
            blocking=bool(body.get("blocking")),
            origin=body.get("origin", ""),
            conversation_id=conversation.get("id"),
            conversation_external_id=conversation.get("external_id"),
            created_at=parse_time(body.get("created_at")),
            resolution=Resolution.from_api(resolution) if resolution else None,
            allowed_verbs=list(body.get("allowed_verbs") or []),
            raw=body,
            added_to_existing=added,
            _client=client,
        )

    def wait(self, timeout: float | None = None) -> Resolution:
        """The client's wait_for_resolution(self.id, timeout): until final (a coroutine on AsyncClient)."""
        return self._client.wait_for_resolution(self.id, timeout=timeout)

    def withdraw(self, reason: str = "") -> Escalation:
        return self._client.withdraw(self.id, reason=reason)

    def refresh(self) -> Escalation:
        return self._client.get_escalation(self.id)


@dataclass(frozen=True)
class Message:
    id: int
    role: str
    content: str
    metadata: dict[str, Any]
    created_at: dt.datetime | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Message:
        return cls(
            id=body["id"],
            role=body["role"],
            content=body["content"],
            metadata=body.get("metadata") or {},
            created_at=parse_time(body.get("created_at")),
        )


@dataclass(frozen=True)
class PostedMessage:
    """A recorded message, the escalation it opened or was added to (or None), and the rules that fired.

    `paused`: the conversation waits for a person, by this message's escalation or an earlier one
    still unanswered: the agent's next message would raise ConversationPaused until the answer.
    """

    message: Message
    escalation: Escalation | None
    hits: list[dict[str, Any]]
    paused: bool


@dataclass(frozen=True)
class Conversation:
    id: int
    external_id: str
    channel: str
    status: str
    subject: str
    metadata: dict[str, Any]
    created_at: dt.datetime | None
    open_escalation: Escalation | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    created: bool = False
    _client: Any = field(default=None, repr=False, compare=False)

    @property
    def paused(self) -> bool:
        return self.status == "awaiting_human"

    @classmethod
    def from_api(cls, body: dict[str, Any], client: Any = None, *, created: bool = False) -> Conversation:
        open_escalation = body.get("open_escalation")
        return cls(
            id=body["id"],
            external_id=body["external_id"],
            channel=body.get("channel", ""),
            status=body.get("status", ""),
            subject=body.get("subject", ""),
            metadata=body.get("metadata") or {},
            created_at=parse_time(body.get("created_at")),
            open_escalation=Escalation.from_api(open_escalation, client) if open_escalation else None,
            raw=body,
            created=created,
            _client=client,
        )

    def post_message(self, role: str, content: str, **kwargs: Any) -> PostedMessage:
        return self._client.post_message(self.id, role, content, **kwargs)

    def escalate(self, reason: str, severity: str, **kwargs: Any) -> Escalation:
        return self._client.escalate(reason, severity, conversation_id=self.id, **kwargs)


@dataclass(frozen=True)
class Event:
    """One row of the event feed; `id` is the cursor (pass it as `after=` to continue)."""

    id: int
    type: str
    escalation_id: int | None
    team_id: int
    created_at: dt.datetime | None
    data: dict[str, Any]

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Event:
        return cls(
            id=body["id"],
            type=body["type"],
            escalation_id=body.get("escalation_id"),
            team_id=body["team_id"],
            created_at=parse_time(body.get("created_at")),
            data=body.get("data") or {},
        )


def posted_from_api(body: dict[str, Any], client: Any = None) -> PostedMessage:
    escalation = Escalation.from_api(body["escalation"], client) if body.get("escalation") else None
    return PostedMessage(
        message=Message.from_api(body["message"]),
        escalation=escalation,
        hits=list(body.get("hits") or []),
        paused=bool(body["paused"]),
    )
