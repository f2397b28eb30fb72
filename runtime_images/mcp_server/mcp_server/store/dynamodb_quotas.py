"""Per-actor quota counters in the task table, written in the same transaction as the task they count.

Items (keyed like request keys, outside every index, expiring by the table's TTL):
`quota#running#<owner>` (working tasks, +1 on create, -1 on every terminal transition),
`quota#minute#<owner>#<start>` (tasks created that minute), `quota#day#<owner>#<start>` (result
bytes stored that day). A condition on the counter refuses the whole transaction when over.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mcp_server.store.dynamodb_items import deserializer, to_av
from mcp_server.store.quotas import (
    BYTES_PER_DAY,
    PER_MINUTE,
    RUNNING,
    RUNNING_RETRY_SECONDS,
    Quota,
    QuotaExceeded,
    day_window,
    minute_window,
)

PREFIX = "quota#"


def running_key(owner: str) -> str:
    return f"{PREFIX}running#{owner}"


def _counter(table: str, key: str, delta: int, maximum: int | None, expires_at: int | None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": to_av({"task_id": key}),
        "UpdateExpression": "ADD n :delta" + (" SET expires_at = :expires" if expires_at is not None else ""),
        "ExpressionAttributeValues": {":delta": delta, **({":expires": expires_at} if expires_at is not None else {})},
    }
    if maximum is not None:
        # Room for `delta` more: n + delta <= maximum.
        update["ConditionExpression"] = "attribute_not_exists(n) OR n <= :room"
        update["ExpressionAttributeValues"][":room"] = maximum - delta
    update["ExpressionAttributeValues"] = to_av(update["ExpressionAttributeValues"])
    return {"Update": update}


def on_create(table: str, owner: str, now: float, quota: Quota | None) -> list[dict[str, Any]]:
    """The counter updates a new task's transaction carries (the running count is kept even without a quota)."""
    running = _counter(table, running_key(owner), 1, quota.running_tasks if quota else None, None)
    if quota is None:
        return [running]
    start, _ = minute_window(now)
    minute = _counter(table, f"{PREFIX}minute#{owner}#{start}", 1, quota.tasks_per_minute, start + 120)
    return [running, minute]


def on_end(table: str, owner: str) -> dict[str, Any]:
    return _counter(table, running_key(owner), -1, None, None)


def on_result(table: str, owner: str, now: float, size: int, quota: Quota) -> dict[str, Any]:
    start, _ = day_window(now)
    return _counter(table, f"{PREFIX}day#{owner}#{start}", size, quota.result_bytes_per_day, start + 2 * 86_400)


def cancellation_codes(error: ClientError) -> list[str]:
    """The per-item reasons of a cancelled transaction ('None' for items that were fine)."""
    return [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]


def exceeded(ddb: Any, table: str, update: dict[str, Any], owner: str, now: float, quota: Quota) -> QuotaExceeded:
    """The QuotaExceeded for a counter update whose condition failed, with the counter's current value."""
    key = deserializer.deserialize(update["Update"]["Key"]["task_id"])
    item = ddb.get_item(TableName=table, Key=update["Update"]["Key"], ConsistentRead=True).get("Item") or {}
    current = int(deserializer.deserialize(item["n"])) if "n" in item else 0
    if key.startswith(f"{PREFIX}running#"):
        return QuotaExceeded(RUNNING, quota.running_tasks, current, RUNNING_RETRY_SECONDS)
    if key.startswith(f"{PREFIX}minute#"):
        return QuotaExceeded(PER_MINUTE, quota.tasks_per_minute, current, minute_window(now)[1])
    return QuotaExceeded(BYTES_PER_DAY, quota.result_bytes_per_day, current, day_window(now)[1])
