"""DynamoDB task store for deployments.

Attribute names match the table that `stacks/constructs/task_table.py` creates (its
tests build the moto table from the synthesized template): partition key `task_id`,
owner index (`owner`, `created_at`), sparse lease index (`lease_state`,
`lease_expires_at`) and TTL attribute `expires_at`. Request-key records share the
table under `req#<owner>#<key>` and carry neither index key, so they stay out of both.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mcp_server import constants as c
from mcp_server.store.base import LeaseLost, NewTask, Progress, TaskRecord, TaskStore, require_terminal
from mcp_server.store.dynamodb_items import (
    LEASE_STATE_PUBLISHING,
    deserializer,
    from_item,
    new_item,
    progress_update,
    to_av,
)

OWNER_INDEX = "by_owner"
LEASE_INDEX = "by_lease"


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoDbTaskStore(TaskStore):
    def __init__(self, table_name: str, region: str | None = None, client: Any = None) -> None:
        self._table = table_name
        self._ddb = client or boto3.client("dynamodb", region_name=region)

    def _get_item(self, key: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(TableName=self._table, Key=to_av({"task_id": key}), ConsistentRead=True)
        return response.get("Item")

    def create(self, new: NewTask, now: float, lease_seconds: float) -> tuple[TaskRecord, bool]:
        expires = int(now + new.ttl_seconds)
        put_task = {
            "TableName": self._table,
            "Item": new_item(new, now, lease_seconds),
            "ConditionExpression": "attribute_not_exists(task_id)",
        }
        if new.request_key is None:
            self._ddb.put_item(**put_task)
            return from_item(put_task["Item"]), True
        request_item_key = f"req#{new.owner}#{new.request_key}"
        try:
            # Both records or neither: a retry can never find a key without its task.
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Put": put_task},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_av({"task_id": request_item_key, "target": new.task_id, "expires_at": expires}),
                            "ConditionExpression": "attribute_not_exists(task_id) OR expires_at < :now",
                            "ExpressionAttributeValues": to_av({":now": int(now)}),
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            existing = self._get_item(request_item_key)
            if existing is None:
                raise
            task = self._get_item(deserializer.deserialize(existing["target"]))
            if task is None:
                raise
            return from_item(task), False
        return from_item(put_task["Item"]), True

    def get(self, task_id: str, owner: str, now: float) -> TaskRecord | None:
        if task_id.startswith("req#"):
            return None
        item = self._get_item(task_id)
        if item is None:
            return None
        record = from_item(item)
        # TTL deletion lags by up to days: expiry is enforced on read too.
        if record.owner != owner or record.expires_at < now:
            return None
        return record

    def list_by_owner(self, owner: str, now: float, limit: int = 50) -> list[TaskRecord]:
        response = self._ddb.query(
            TableName=self._table,
            IndexName=OWNER_INDEX,
            KeyConditionExpression="#o = :o",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues=to_av({":o": owner}),
            ScanIndexForward=False,
            Limit=limit,
        )
        records = [from_item(i) for i in response.get("Items", [])]
        return [r for r in records if r.expires_at >= now]

    def _update(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._ddb.update_item(TableName=self._table, Key=to_av({"task_id": task_id}), **kwargs)
        except ClientError as error:
            if _conditional_failed(error):
                raise LeaseLost from None
            raise

    def heartbeat(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        lease_seconds: float,
        progress: Progress | None = None,
    ) -> None:
        sets = ["lease_expires_at = :lease", "updated_at = :now", "expires_at = :now_int + ttl_seconds"]
        values: dict[str, Any] = {
            ":lease": now + lease_seconds,
            ":now": now,
            ":now_int": int(now),
            ":working": c.STATUS_WORKING,
            ":me": worker_id,
        }
        names = {"#s": "status"}
        removes = progress_update(progress, sets, values, names)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self._update(
            task_id,
            UpdateExpression=expression,
            ConditionExpression="#s = :working AND lease_owner = :me",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_av(values),
        )

    def finish(
        self,
        task_id: str,
        worker_id: str,
        status: str,
        now: float,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
        publish_after: float,
    ) -> TaskRecord:
        require_terminal(status)
        sets = [
            "#s = :status",
            "updated_at = :now",
            "expires_at = :now_int + ttl_seconds",
            "lease_state = :publishing",
            "lease_expires_at = :due",
        ]
        values: dict[str, Any] = {
            ":status": status,
            ":now": now,
            ":now_int": int(now),
            ":working": c.STATUS_WORKING,
            ":me": worker_id,
            ":one": 1,
            ":publishing": LEASE_STATE_PUBLISHING,
            ":due": publish_after,
        }
        names = {"#s": "status"}
        for name, value in (("result", result), ("error", error)):
            if value is not None:
                # `result` is a DynamoDB reserved word: every name goes through a placeholder.
                sets.append(f"#{name} = :{name}")
                names[f"#{name}"] = name
                values[f":{name}"] = json.dumps(value)
        if message is not None:
            sets.append("status_message = :m")
            values[":m"] = message
        response = self._update(
            task_id,
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE lease_owner ADD completions :one",
            ConditionExpression="#s = :working AND lease_owner = :me",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_av(values),
            ReturnValues="ALL_NEW",
        )
        return from_item(response["Attributes"])

    def request_input(self, task_id: str, worker_id: str, now: float, requests: dict[str, Any]) -> TaskRecord:
        response = self._update(
            task_id,
            UpdateExpression="SET input_requests = :requests, input_responses = :none, updated_at = :now",
            ConditionExpression="#s = :working AND lease_owner = :me",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_av(
                {
                    ":requests": {key: json.dumps(request) for key, request in requests.items()},
                    ":none": {},
                    ":now": now,
                    ":working": c.STATUS_WORKING,
                    ":me": worker_id,
                }
            ),
            ReturnValues="ALL_NEW",
        )
        return from_item(response["Attributes"])

    def clear_input(self, task_id: str, worker_id: str, now: float) -> TaskRecord:
        response = self._update(
            task_id,
            UpdateExpression="SET updated_at = :now REMOVE input_requests, input_responses",
            ConditionExpression="#s = :working AND lease_owner = :me",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_av({":now": now, ":working": c.STATUS_WORKING, ":me": worker_id}),
            ReturnValues="ALL_NEW",
        )
        return from_item(response["Attributes"])

    def provide_input(self, task_id: str, owner: str, now: float, responses: dict[str, Any]) -> TaskRecord | None:
        if task_id.startswith("req#") or not responses:
            return None
        names = {"#s": "status", "#o": "owner"}
        values: dict[str, Any] = {":now": now, ":now_int": int(now), ":owner": owner, ":working": c.STATUS_WORKING}
        sets = ["updated_at = :now"]
        conditions = ["#o = :owner", "#s = :working", "expires_at >= :now_int"]
        for i, (key, response) in enumerate(responses.items()):
            names[f"#k{i}"] = key
            values[f":v{i}"] = json.dumps(response)
            sets.append(f"input_responses.#k{i} = :v{i}")
            # Only a question still open: asked, and not answered before (by this or another caller).
            conditions += [f"attribute_exists(input_requests.#k{i})", f"attribute_not_exists(input_responses.#k{i})"]
        try:
            response = self._update(
                task_id,
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_av(values),
                ReturnValues="ALL_NEW",
            )
        except LeaseLost:
            return None
        return from_item(response["Attributes"])

    def cancel(self, task_id: str, owner: str, now: float, message: str, *, publish_after: float) -> TaskRecord | None:
        if task_id.startswith("req#"):
            return None
        try:
            response = self._update(
                task_id,
                UpdateExpression="SET #s = :cancelled, status_message = :m, updated_at = :now,"
                " expires_at = :now_int + ttl_seconds, lease_state = :publishing, lease_expires_at = :due"
                " REMOVE lease_owner ADD completions :one",
                ConditionExpression="#o = :owner AND #s = :working AND expires_at >= :now_int",
                ExpressionAttributeNames={"#s": "status", "#o": "owner"},
                ExpressionAttributeValues=to_av(
                    {
                        ":cancelled": c.STATUS_CANCELLED,
                        ":m": message,
                        ":now": now,
                        ":now_int": int(now),
                        ":owner": owner,
                        ":working": c.STATUS_WORKING,
                        ":one": 1,
                        ":publishing": LEASE_STATE_PUBLISHING,
                        ":due": publish_after,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except LeaseLost:
            return self.get(task_id, owner, now)
        return from_item(response["Attributes"])

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

    def take_over(self, task_id: str, stale_worker: str, new_worker: str, now: float, lease_seconds: float) -> bool:
        try:
            self._update(
                task_id,
                # The lost worker's open question goes with it: a re-run asks again if it must.
                UpdateExpression=(
                    "SET lease_owner = :new, lease_expires_at = :lease, updated_at = :now ADD attempts :one"
                    " REMOVE input_requests, input_responses"
                ),
                ConditionExpression="#s = :working AND lease_owner = :stale AND lease_expires_at < :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_av(
                    {
                        ":new": new_worker,
                        ":lease": now + lease_seconds,
                        ":now": now,
                        ":one": 1,
                        ":working": c.STATUS_WORKING,
                        ":stale": stale_worker,
                    }
                ),
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
                UpdateExpression="SET lease_expires_at = :until",
                ConditionExpression="lease_state = :publishing AND lease_expires_at < :now",
                ExpressionAttributeValues=to_av({":until": until, ":now": now, ":publishing": LEASE_STATE_PUBLISHING}),
            )
        except LeaseLost:
            return False
        return True

    def mark_published(self, task_id: str) -> None:
        self._update(task_id, UpdateExpression="REMOVE lease_state, lease_expires_at")

    def purge_expired(self, now: float) -> int:
        # The table's TTL attribute deletes expired items; reads already hide them.
        return 0
