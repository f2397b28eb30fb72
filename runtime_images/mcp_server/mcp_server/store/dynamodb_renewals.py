"""The DynamoDB store's lease renewals (with progress and checkpoints) and the follow marks readers leave."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp_server import constants as c
from mcp_server.store.base import Beat, LeaseLost, Progress, Renewal, beat_parts
from mcp_server.store.dynamodb_access import FOLLOW_INDEX, TableAccess
from mcp_server.store.dynamodb_items import from_item, progress_update, sweep_at, to_av


class Renewals(TableAccess):
    def renew(self, worker_id: str, now: float, lease_seconds: float, items: Sequence[Beat]) -> Renewal:
        lost: list[str] = []
        followed: dict[str, float] = {}
        for beat in items:
            task_id, progress, checkpoint = beat_parts(beat)
            try:
                until = self._renew_one(task_id, worker_id, now, lease_seconds, progress, checkpoint)
            except LeaseLost:
                lost.append(task_id)
                continue
            if until is not None and until > now:
                followed[task_id] = until
        return Renewal(lost, followed)

    def _renew_one(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        lease_seconds: float,
        progress: Progress | None,
        checkpoint: str | None,
    ) -> float | None:
        """One renewal (one item write, no index write unless sweep_at reaches its next grid line);
        returns until when a reader elsewhere follows the task (None: nobody)."""
        lease = now + lease_seconds
        sets = ["lease_expires_at = :lease", "updated_at = :now", "expires_at = :now_int + ttl_seconds"]
        values: dict[str, Any] = {
            ":lease": lease,
            ":now": now,
            ":now_int": int(now),
            ":working": c.STATUS_WORKING,
            ":me": worker_id,
        }
        names = {"#s": "status"}
        sweep = sweep_at(lease, lease_seconds)
        if self._sweep_written.get(task_id) != sweep:
            # Only when the lease's end passed the grid line (or this process never wrote it): a key
            # written, even with its own value, is never relied on to leave the index alone.
            sets.append("sweep_at = :sweep")
            values[":sweep"] = sweep
        removes = progress_update(progress, sets, values, names)
        if checkpoint is not None:  # in the renewal's own write: no extra write for a checkpoint
            sets.append("checkpoint = :cp")
            values[":cp"] = checkpoint
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            response = self._update(
                task_id,
                UpdateExpression=expression,
                # Not given up: a renewal racing a release (hand-over, durable sleep) must not take it back.
                ConditionExpression="#s = :working AND lease_owner = :me AND attribute_not_exists(handover)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_av(values),
                # Costs no capacity: the renewal learns whether a reader elsewhere follows the task.
                ReturnValues="ALL_NEW",
            )
        except LeaseLost:
            self._sweep_written.pop(task_id, None)
            raise
        item = response["Attributes"]
        if "sweep_at" in item:
            self._sweep_written[task_id] = float(item["sweep_at"]["N"])
        return from_item(item).followed_until

    def follow(self, task_id: str, follower: str, now: float, until: float, *, extend: bool = False) -> bool:
        if "#" in task_id:
            return False
        values = {":until": until, ":now": now, ":f": follower, ":working": c.STATUS_WORKING}
        # A new follow enters the follow index (its key: the worker, when it began); extending one
        # changes no index key, so it writes the item alone.
        begin = {
            "UpdateExpression": "SET followed_until = :until, follower = :f, follow_since = :now",
            "ConditionExpression": "#s = :working AND lease_owner = :f AND (attribute_not_exists(followed_until)"
            " OR followed_until < :now OR attribute_not_exists(follower) OR follower <> :f)",
            "values": values,
        }
        # Several readers elsewhere: the first one's mark serves the others until its middle.
        more = {
            "UpdateExpression": "SET followed_until = :until",
            "ConditionExpression": "#s = :working AND lease_owner = :f AND follower = :f"
            " AND followed_until >= :now AND followed_until < :half",
            "values": {**values, ":half": (now + until) / 2},
        }
        for form in (more, begin) if extend else (begin, more):
            try:
                self._update(
                    task_id,
                    UpdateExpression=form["UpdateExpression"],
                    ConditionExpression=form["ConditionExpression"],
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=to_av(form["values"]),
                )
            except LeaseLost:  # not this form's case (or ended, or another reader's mark is recent enough)
                continue
            return True
        return False

    def follows_since(self, worker_id: str, since: float) -> dict[str, float]:
        found: dict[str, float] = {}
        query: dict[str, Any] = {
            "IndexName": FOLLOW_INDEX,
            "KeyConditionExpression": "follower = :w AND follow_since >= :since",
            "ExpressionAttributeValues": to_av({":w": worker_id, ":since": since}),
        }
        while True:
            response = self._ddb.query(TableName=self._table, **query)
            found.update((item["task_id"]["S"], float(item["follow_since"]["N"])) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
