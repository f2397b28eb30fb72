"""The conversation event written to AgentCore Memory for a task result or a handoff outcome.

One conversational message in the shape Strands' AgentCoreMemorySessionManager restores
(a JSON-encoded SessionMessage). Writers pass a deterministic client token, so a retried
write leaves one event. Readers (the agent) use `message_text` to get the text back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Outer role of the event; the inner SessionMessage role is its lower-case twin.
EVENT_ROLE = "USER"
# Conversational payloads are capped at 100k characters; the JSON envelope needs the rest.
MAX_TEXT = 90_000
# Metadata keys of a task's events (the agent reads them back to label each note).
META_TASK_ID = "task_id"
META_TASK_STATUS = "task_status"
META_TOOL = "tool"


@dataclass(frozen=True)
class MemoryEvent:
    memory_id: str
    actor_id: str
    session_id: str
    client_token: str
    timestamp: datetime
    # The JSON-encoded SessionMessage (the conversational payload's text).
    text: str
    metadata: dict[str, str]

    def create_event_request(self) -> dict[str, Any]:
        """The keyword arguments of bedrock-agentcore's CreateEvent for this event."""
        return {
            "memoryId": self.memory_id,
            "actorId": self.actor_id,
            "sessionId": self.session_id,
            "eventTimestamp": self.timestamp,
            "payload": [{"conversational": {"content": {"text": self.text}, "role": EVENT_ROLE}}],
            "clientToken": self.client_token,
            "metadata": {k: {"stringValue": v} for k, v in self.metadata.items()},
        }


def session_message(text: str, at: datetime) -> str:
    """The JSON SessionMessage Strands restores; message_id from the time keeps histories in order."""
    return json.dumps(
        {
            "message": {"role": EVENT_ROLE.lower(), "content": [{"text": text[:MAX_TEXT]}]},
            "message_id": int(at.timestamp() * 1000),
            "redact_message": None,
            "created_at": at.isoformat(),
            "updated_at": at.isoformat(),
        }
    )


def memory_event(
    *,
    memory_id: str,
    actor_id: str,
    session_id: str,
    client_token: str,
    text: str,
    metadata: dict[str, str],
    at: datetime | float | None = None,
) -> MemoryEvent:
    when = at if isinstance(at, datetime) else datetime.fromtimestamp(at, tz=UTC) if at is not None else None
    when = when or datetime.now(UTC)
    return MemoryEvent(
        memory_id=memory_id,
        actor_id=actor_id,
        session_id=session_id,
        client_token=client_token,
        timestamp=when,
        text=session_message(text, when),
        metadata=dict(metadata),
    )


def message_text(payload_text: str) -> str | None:
    """The message text of a conversational payload written by `memory_event`; None if it is not one."""
    try:
        message = json.loads(payload_text)["message"]
        return "".join(block.get("text", "") for block in message["content"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
