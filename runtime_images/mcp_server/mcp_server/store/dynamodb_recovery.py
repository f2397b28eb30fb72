"""The DynamoDB store's recovery side: expired leases, take-over, overdue publications, purge."""

from __future__ import annotations

from typing import Any

from mcp_server import constants as c
from mcp_server.store.base import LeaseLost, Progress, TaskRecord
from mcp_server.store.dynamodb_access import LEASE_INDEX, TableAccess
from mcp_server.store.dynamodb_items import LEASE_STATE_PUBLISHING, from_item, progress_update, to_av


class RecoveryQueries(TableAccess):
    def expired_leases(self, now: float, limit: int = 25) -> list[TaskRecord]:
        response = self._ddb.query(
            TableName=self._table,
            IndexName=LEASE_INDEX,
            KeyConditionExpression="lease_state = :running AND lease_expires_at < :now",
            ExpressionAttributeValues=to_av({":running": c.LEASE_STATE_RUNNING, ":now": now}),
            Limit=limit,
        )
        records = [from_item(i) for i in response.get("Items", [])]
        return [r for r in records if r.status == c.STATUS_WORKING]

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
                    "SET lease_owner = :new, lease_expires_at = :lease, updated_at = :now ADD attempts :one"
                    " REMOVE input_requests, input_responses, handover"
                ),
                ConditionExpression="#s = :working AND lease_owner = :stale AND lease_expires_at < :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_av(
                    {
                        ":new": new_worker,
                        ":lease": now + lease_seconds,
                        ":now": now,
                        ":one": int(count_attempt),
                        ":working": c.STATUS_WORKING,
                        ":stale": stale_worker,
                    }
                ),
            )
        except LeaseLost:
            return False
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
        sets = ["lease_expires_at = :until", "updated_at = :now", "handover = :yes"]
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
        response = self._ddb.query(
            TableName=self._table,
            IndexName=LEASE_INDEX,
            KeyConditionExpression="lease_state = :publishing AND lease_expires_at < :now",
            ExpressionAttributeValues=to_av({":publishing": LEASE_STATE_PUBLISHING, ":now": now}),
            Limit=limit,
        )
        return [from_item(i) for i in response.get("Items", [])]

    def claim_publish(self, task_id: str, now: float, until: float) -> bool:
        try:
            self._update(
                task_id,
                UpdateExpression="SET lease_expires_at = :until ADD publish_attempts :one",
                ConditionExpression="lease_state = :publishing AND lease_expires_at < :now",
                ExpressionAttributeValues=to_av(
                    {":until": until, ":now": now, ":publishing": LEASE_STATE_PUBLISHING, ":one": 1}
                ),
            )
        except LeaseLost:
            return False
        return True

    def mark_published(self, task_id: str) -> None:
        self._update(task_id, UpdateExpression="REMOVE lease_state, lease_expires_at")

    def abandon_publish(self, task_id: str) -> None:
        # Off the lease index: no sweeper offers it again.
        self._update(
            task_id,
            UpdateExpression="SET publish_abandoned = :yes REMOVE lease_state, lease_expires_at",
            ExpressionAttributeValues=to_av({":yes": True}),
        )

    def purge_expired(self, now: float) -> int:
        # The table's TTL attribute deletes expired items; reads already hide them.
        return 0
