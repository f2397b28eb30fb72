"""Write a workflow outcome into AgentCore Memory for the requesting actor and session.

The event is kit_contracts.memory_events' (the shape the agent reads back), with a client
token derived from the idempotency key and the outcome, so a retried write never duplicates it.
"""

from __future__ import annotations

from typing import Any

import boto3

from handoff.settings import settings
from kit_contracts.memory_events import memory_event

# Metadata keys of a handoff's events.
META_KEY = "handoff_key"
META_KIND = "handoff_kind"
META_OUTCOME = "handoff_outcome"


def outcome_event(
    *, kind: str, idempotency_key: str, actor_id: str, session_id: str, outcome: str, text: str
) -> dict[str, Any]:
    """The CreateEvent request for one outcome."""
    return memory_event(
        memory_id=settings().memory_id,
        actor_id=actor_id,
        session_id=session_id,
        client_token=f"handoff-{idempotency_key}-{outcome}",
        text=f"[handoff {kind} {idempotency_key[:12]}] {text}",
        metadata={META_KEY: idempotency_key, META_KIND: kind, META_OUTCOME: outcome},
    ).create_event_request()


def record(**fields: str) -> str:
    event = outcome_event(**fields)
    boto3.client("bedrock-agentcore", region_name=settings().region).create_event(**event)
    return str(event["clientToken"])
