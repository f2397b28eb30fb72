"""Write a workflow outcome into AgentCore Memory for the requesting actor and session.

One conversational event in the shape Strands' AgentCoreMemorySessionManager restores
(a JSON-encoded SessionMessage), with a client token derived from the idempotency key and
the outcome, so a retried write never duplicates it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from handoff.settings import settings

EVENT_ROLE = "USER"


def outcome_event(
    *, kind: str, idempotency_key: str, actor_id: str, session_id: str, outcome: str, text: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    message = f"[handoff {kind} {idempotency_key[:12]}] {text}"[:90_000]
    session_message = {
        "message": {"role": EVENT_ROLE.lower(), "content": [{"text": message}]},
        "message_id": int(now.timestamp() * 1000),
        "redact_message": None,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
    }
    return {
        "memoryId": settings().memory_id,
        "actorId": actor_id,
        "sessionId": session_id,
        "eventTimestamp": now,
        "payload": [{"conversational": {"content": {"text": json.dumps(session_message)}, "role": EVENT_ROLE}}],
        "clientToken": f"handoff-{idempotency_key}-{outcome}",
        "metadata": {
            "handoff_key": {"stringValue": idempotency_key},
            "handoff_kind": {"stringValue": kind},
            "handoff_outcome": {"stringValue": outcome},
        },
    }


def record(**fields: str) -> str:
    event = outcome_event(**fields)
    boto3.client("bedrock-agentcore", region_name=settings().region).create_event(**event)
    return str(event["clientToken"])
