"""Write a workflow outcome into AgentCore Memory for the requesting actor and session.

The event is kit_contracts.memory_events' (the shape the agent reads back), with a client
token derived from the idempotency key, the outcome and the execution, so a retried write (or a
redriven execution) never duplicates it, while a re-run of the same request (a new execution)
is still told. A write that fails raises `OutcomeNotRecorded`, which the workflow retries.
"""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from handoff.settings import settings
from kit_contracts.memory_events import memory_event

# Metadata keys of a handoff's events.
META_KEY = "handoff_key"
META_KIND = "handoff_kind"
META_OUTCOME = "handoff_outcome"


class OutcomeNotRecorded(Exception):
    """CreateEvent failed; its class name is the error the workflow retries. Safe to retry: the
    client token is the same each time."""


def outcome_event(
    *, kind: str, idempotency_key: str, actor_id: str, session_id: str, outcome: str, text: str, execution: str
) -> dict[str, Any]:
    """The CreateEvent request for one outcome of one execution (its id, `$$.Execution.Id`)."""
    run = hashlib.sha256(execution.encode()).hexdigest()[:16]
    return memory_event(
        memory_id=settings().memory_id,
        actor_id=actor_id,
        session_id=session_id,
        client_token=f"handoff-{idempotency_key}-{outcome}-{run}",
        text=f"[handoff {kind} {idempotency_key[:12]}] {text}",
        metadata={META_KEY: idempotency_key, META_KIND: kind, META_OUTCOME: outcome},
    ).create_event_request()


def record(**fields: str) -> str:
    event = outcome_event(**fields)
    try:
        boto3.client("bedrock-agentcore", region_name=settings().region).create_event(**event)
    except (ClientError, BotoCoreError) as exc:
        # botocore's message names the operation and the service's reason, not the payload.
        raise OutcomeNotRecorded(f"CreateEvent for outcome {fields['outcome']!r} failed: {exc}") from None
    return str(event["clientToken"])
