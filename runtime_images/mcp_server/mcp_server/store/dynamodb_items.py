"""How a task record is stored as a DynamoDB item (attribute values both ways)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from mcp_server import constants as c
from mcp_server.store.base import NewTask, Progress, TaskRecord

# Second value of the sparse sweep index's partition key: a finished task whose result
# event is not written yet, keyed by when that becomes overdue.
LEASE_STATE_PUBLISHING = "publishing"
# A running task's sweep_at (the sweep index's sort key) lies on a grid this many leases wide, past
# its lease's end: it moves once per grid step, not with every renewal, so renewals leave the index
# alone (a changed index key costs a delete and a put in it). The price: a lost worker's task is
# found up to one grid step after its lease ran out.
SWEEP_GRID_LEASES = 2
_serializer = TypeSerializer()
deserializer = TypeDeserializer()


def to_av(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, float):
            value = Decimal(repr(value))
        out[key] = _serializer.serialize(value)
    return out


def from_item(item: dict[str, Any]) -> TaskRecord:
    raw = {k: deserializer.deserialize(v) for k, v in item.items()}

    def num(name: str) -> float | None:
        return float(raw[name]) if name in raw else None

    # The lease index holds running work and overdue result events; the state says which.
    publishing = raw.get("lease_state") == LEASE_STATE_PUBLISHING

    return TaskRecord(
        task_id=raw["task_id"],
        owner=raw["owner"],
        session_id=raw["session_id"],
        memory_id=raw.get("memory_id"),
        tool=raw["tool"],
        arguments=json.loads(raw["arguments"]),
        status=raw["status"],
        status_message=raw.get("status_message"),
        progress=num("progress"),
        total=num("total"),
        result=json.loads(raw["result"]) if "result" in raw else None,
        error=json.loads(raw["error"]) if "error" in raw else None,
        created_at=float(raw["created_at"]),
        updated_at=float(raw["updated_at"]),
        ttl_seconds=int(raw["ttl_seconds"]),
        expires_at=int(raw["expires_at"]),
        lease_owner=raw.get("lease_owner"),
        lease_expires_at=None if publishing else num("lease_expires_at"),
        attempts=int(raw.get("attempts", 1)),
        completions=int(raw.get("completions", 0)),
        publish_due_at=num("lease_expires_at") if publishing else None,
        resumable=bool(raw.get("resumable", False)),
        request_key=raw.get("request_key"),
        input_requests=_json_map(raw.get("input_requests")),
        input_responses=_json_map(raw.get("input_responses")),
        publish_attempts=int(raw.get("publish_attempts", 0)),
        publish_abandoned=bool(raw.get("publish_abandoned", False)),
        handover=bool(raw.get("handover", False)),
        checkpoint=json.loads(raw["checkpoint"]) if "checkpoint" in raw else None,
        followed_until=num("followed_until"),
        follower=raw.get("follower"),
    )


def sweep_at(lease_expires_at: float, lease_seconds: float) -> float:
    """When sweepers look at a running task: the next grid line after its lease's end."""
    grid = SWEEP_GRID_LEASES * lease_seconds
    return (math.floor(lease_expires_at / grid) + 1) * grid


def _json_map(value: dict[str, str] | None) -> dict[str, Any] | None:
    # Questions and answers are maps of JSON strings, so a condition can name one key.
    return None if value is None else {key: json.loads(text) for key, text in value.items()}


def new_item(new: NewTask, now: float, lease_seconds: float) -> dict[str, Any]:
    """The item of a task just created: working, leased to its creator."""
    expires = int(now + new.ttl_seconds)
    values: dict[str, Any] = {
        "task_id": new.task_id,
        "owner": new.owner,
        "session_id": new.session_id,
        "tool": new.tool,
        "arguments": json.dumps(new.arguments),
        "status": c.STATUS_WORKING,
        "created_at": now,
        "updated_at": now,
        "ttl_seconds": new.ttl_seconds,
        "expires_at": expires,
        "lease_owner": new.worker_id,
        "lease_state": c.LEASE_STATE_RUNNING,
        "lease_expires_at": now + lease_seconds,
        "sweep_at": sweep_at(now + lease_seconds, lease_seconds),
        "attempts": 1,
        "completions": 0,
        "resumable": new.resumable,
    }
    if new.memory_id:
        values["memory_id"] = new.memory_id
    if new.request_key is not None:
        values["request_key"] = new.request_key
    return to_av(values)


def progress_update(
    progress: Progress | None, sets: list[str], values: dict[str, Any], names: dict[str, str]
) -> list[str]:
    """Add a progress report to an update's SET clauses; return the attributes to REMOVE."""
    if progress is None:
        return []
    value, total, message = progress
    sets.append("progress = :p")
    values[":p"] = float(value)
    if total is not None:
        sets.append("#t = :t")
        values[":t"] = float(total)
        names["#t"] = "total"
    if message is None:
        return ["status_message"]
    sets.append("status_message = :m")
    values[":m"] = message
    return []
