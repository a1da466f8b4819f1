"""Pushes committed events to the team's channel group (the live console listens there).

Called only from transaction.on_commit in services. A failed broadcast is
logged, never raised: the Event row is already committed, and a console that
missed it catches up by replaying events after the last id it saw.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def event_message(event) -> dict[str, Any]:
    """The message a console socket receives; `type` routes it to the consumer's handler."""
    return {
        "type": "escalation.event",
        "event_id": event.id,
        "event_type": event.type,
        "escalation_id": event.escalation_id,
        "team_id": event.team_id,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }


def publish_event(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(team_group(message["team_id"]), message)
    except Exception:
        logger.exception(
            "Broadcast of event %s failed; consoles will catch up by replay.", message["event_id"]
        )
