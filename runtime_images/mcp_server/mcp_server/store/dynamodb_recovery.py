"""The DynamoDB store's recovery side: expired leases, take-over, overdue publications, purge.

The sweep index holds keys only (`lease_state`, `sweep_at`): a query finds the candidates, and each
candidate's item is read before anything is done to it. A running task's sweep_at lies past its
lease's end (dynamodb_items.sweep_at), so live tasks are not candidates and reads stay with the lost.
"""

from __future__ import annotations

from typing import Any

from mcp_server import constants as c
from mcp_server.store.base import LeaseLost, Progress, TaskRecord
from mcp_server.store.dynamodb_access import SWEEP_INDEX, TableAccess
from mcp_server.store.dynamodb_items import LEASE_STATE_PUBLISHING, from_item, progress_update, sweep_at, to_av


class RecoveryQueries(TableAccess):
    def _due(self, state: str, now: float, limit: int) -> list[TaskRecord]:
        """The items in `state` whose sweep_at passed, read from the table (consistent: they are acted on)."""
        ids = self._index_keys(
            IndexName=SWEEP_INDEX,
            KeyConditionExpression="lease_state = :state AND sweep_at < :now",
            ExpressionAttributeValues=to_av({":state": state, ":now": now}),
            Limit=limit,
        )
        # A handful at most (only the lost and the overdue are due): one GetItem each, as the sweeper may.
        items = [self._get_item(task_id) for task_id in ids]
        return [from_item(item) for item in items if item is not None and item.get("lease_state", {}).get("S") == state]

    def expired_leases(self, now: float, limit: int = 25) -> list[TaskRecord]:
        return [
            r
            for r in self._due(c.LEASE_STATE_RUNNING, now, limit)
            if r.status == c.STATUS_WORKING and r.lease_expires_at is not None and r.lease_expires_at < now
        ]

    def take_over(
        self,
        task_id: str,
        stale_worker: str,
        new_worker: str,
        now: float,
        lease_seconds: float,
        *,
        count_attempt: bool = True,
    ) -> bool:
        try:
            self._update(
                task_id,
                # The lost worker's open question goes with it: a re-run asks again if it must.
                UpdateExpression=(
                    "SET lease_owner = :new, lease_expires_at = :lease, sweep_at = :sweep, updated_at = :now"
                    " ADD attempts :one REMOVE input_requests, input_responses, handover"
                ),
                ConditionExpression="#s = :working AND lease_owner = :stale AND lease_expires_at < :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_av(
                    {
                        ":new": new_worker,
                        ":lease": now + lease_seconds,
                        ":sweep": sweep_at(now + lease_seconds, lease_seconds),
                        ":now": now,
                        ":one": int(count_attempt),
                        ":working": c.STATUS_WORKING,
                        ":stale": stale_worker,
                    }
                ),
            )
        except LeaseLost:
            return False
        self._sweep_written[task_id] = sweep_at(now + lease_seconds, lease_seconds)
        return True

    def release(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        *,
        until: float | None = None,
        progress: Progress | None = None,
        checkpoint: str | None = None,
    ) -> bool:
        self._sweep_written.pop(task_id, None)
        # Free from `until` on: sweepers look exactly then (a hand-over at once, a durable sleep when it ends).
        sets = ["lease_expires_at = :until", "sweep_at = :until", "updated_at = :now", "handover = :yes"]
        values: dict[str, Any] = {
            ":until": until if until is not None else now,
            ":now": now,
            ":yes": True,
            ":working": c.STATUS_WORKING,
            ":me": worker_id,
        }
        names = {"#s": "status"}
        if progress is not None:
            progress_update(progress, sets, values, names)
        if checkpoint is not None:
            sets.append("checkpoint = :cp")
            values[":cp"] = checkpoint
        try:
            self._update(
                task_id,
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#s = :working AND lease_owner = :me",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_av(values),
            )
        except LeaseLost:
            return False
        return True

    def unpublished(self, now: float, limit: int = 25) -> list[TaskRecord]:
        return [
            r
            for r in self._due(LEASE_STATE_PUBLISHING, now, limit)
            if r.publish_due_at is not None and r.publish_due_at < now
        ]

    def claim_publish(self, task_id: str, now: float, until: float) -> bool:
        try:
            self._update(
                task_id,
                UpdateExpression="SET lease_expires_at = :until, sweep_at = :until ADD publish_attempts :one",
                ConditionExpression="lease_state = :publishing AND lease_expires_at < :now",
                ExpressionAttributeValues=to_av(
                    {":until": until, ":now": now, ":publishing": LEASE_STATE_PUBLISHING, ":one": 1}
                ),
            )
        except LeaseLost:
            return False
        return True

    def mark_published(self, task_id: str) -> None:
        self._update(task_id, UpdateExpression="REMOVE lease_state, lease_expires_at, sweep_at")

    def abandon_publish(self, task_id: str) -> None:
        # Off the lease index: no sweeper offers it again.
        self._update(
            task_id,
            UpdateExpression="SET publish_abandoned = :yes REMOVE lease_state, lease_expires_at, sweep_at",
            ExpressionAttributeValues=to_av({":yes": True}),
        )

    def purge_expired(self, now: float) -> int:
        # The table's TTL attribute deletes expired items; reads already hide them.
        return 0
