"""DynamoDB task store for deployments.

Attribute names match the table that `stacks/constructs/task_table.py` creates (its
tests build the moto table from the synthesized template): partition key `task_id`,
owner index (`owner`, `created_at`), sparse sweep index (`lease_state`, `sweep_at`), both
keys only, and TTL attribute `expires_at`. Request-key records share the table under
`req#<owner>#<key>` and carry neither index key, so they stay out of both.

Write cost: a renewal (with its progress and checkpoint) is one write of the item and touches
no index (their keys stay put and they project nothing else); see docs/performance.md.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_server import constants as c
from mcp_server.store import dynamodb_quotas as quotas
from mcp_server.store.base import (
    LeaseLost,
    NewTask,
    Progress,
    TaskRecord,
    TaskStore,
    final_progress,
    require_terminal,
)
from mcp_server.store.dynamodb_access import OWNER_INDEX
from mcp_server.store.dynamodb_items import (
    LEASE_STATE_PUBLISHING,
    deserializer,
    from_item,
    new_item,
    to_av,
)
from mcp_server.store.dynamodb_recovery import RecoveryQueries
from mcp_server.store.dynamodb_renewals import Renewals
from mcp_server.store.quotas import Quota, result_size


class DynamoDbTaskStore(Renewals, RecoveryQueries, TaskStore):
    """The task store on DynamoDB: transitions here, renewals in dynamodb_renewals.py, recovery queries in
    dynamodb_recovery.py."""

    def create(
        self, new: NewTask, now: float, lease_seconds: float, quota: Quota | None = None
    ) -> tuple[TaskRecord, bool]:
        item = new_item(new, now, lease_seconds)
        put_task = {
            "Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(task_id)"}
        }
        counters = quotas.on_create(self._table, new.owner, now, quota)
        request_item_key = f"req#{new.owner}#{new.request_key}"
        keyed = []
        if new.request_key is not None:
            expires = int(now + new.ttl_seconds)
            keyed = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_av({"task_id": request_item_key, "target": new.task_id, "expires_at": expires}),
                        "ConditionExpression": "attribute_not_exists(task_id) OR expires_at < :now",
                        "ExpressionAttributeValues": to_av({":now": int(now)}),
                    }
                }
            ]
        # The task, its request key and its quota counters: all written, or none.
        codes = self._transact([put_task, *keyed, *counters])
        if not codes:
            self._sweep_written[new.task_id] = float(item["sweep_at"]["N"])
            return from_item(item), True
        if keyed and codes[1] == "ConditionalCheckFailed":
            existing = self._get_item(request_item_key)
            task = self._get_item(deserializer.deserialize(existing["target"])) if existing else None
            if task is not None:
                return from_item(task), False
        for update, code in zip(counters, codes[1 + len(keyed) :], strict=True):
            if code == "ConditionalCheckFailed" and quota is not None:
                raise quotas.exceeded(self._ddb, self._table, update, new.owner, now, quota)
        raise RuntimeError(f"creating task {new.task_id} was refused: {codes}")

    def get(self, task_id: str, owner: str, now: float) -> TaskRecord | None:
        if "#" in task_id:  # request-key and quota items, never tasks
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
        ids = self._index_keys(
            IndexName=OWNER_INDEX,
            KeyConditionExpression="#o = :o",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues=to_av({":o": owner}),
            ScanIndexForward=False,
            Limit=limit,
        )
        items = self._get_items(ids)
        records = [from_item(items[i]) for i in ids if i in items]  # newest first, as the index has them
        return [r for r in records if r.owner == owner and r.expires_at >= now]

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
        quota: Quota | None = None,
        progress: Progress | None = None,
    ) -> TaskRecord:
        require_terminal(status)
        self._sweep_written.pop(task_id, None)
        held = self._get_item(task_id)
        if held is None or from_item(held).lease_owner != worker_id:
            raise LeaseLost
        owner = from_item(held).owner
        sets = [
            "#s = :status",
            "updated_at = :now",
            "expires_at = :now_int + ttl_seconds",
            "lease_state = :publishing",
            "lease_expires_at = :due",
            "sweep_at = :due",
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
        final = final_progress(message, progress)
        removes = ["lease_owner"]
        if final.progress is not None:
            sets.append("progress = :p")
            values[":p"] = float(final.progress)
        if final.total is not None:
            sets.append("#t = :t")
            names["#t"] = "total"
            values[":t"] = float(final.total)
        if final.message is not None:
            sets.append("status_message = :m")
            values[":m"] = final.message
        elif final.replace_message:
            removes.append("status_message")
        end = self._update_request(
            task_id,
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes) + " ADD completions :one",
            ConditionExpression="#s = :working AND lease_owner = :me",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_av(values),
        )
        counters = [quotas.on_end(self._table, owner)]
        if quota is not None and result is not None:
            counters.append(quotas.on_result(self._table, owner, now, result_size(result), quota))
        codes = self._transact([end, *counters])
        if codes and codes[0] == "ConditionalCheckFailed":
            raise LeaseLost
        if codes and quota is not None and codes[-1] == "ConditionalCheckFailed":
            raise quotas.exceeded(self._ddb, self._table, counters[-1], owner, now, quota)
        if codes:
            raise RuntimeError(f"finishing task {task_id} was refused: {codes}")
        return self._record(task_id)

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
        if "#" in task_id or not responses:
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
        if "#" in task_id:  # request-key and quota items, never tasks
            return None
        end = self._update_request(
            task_id,
            UpdateExpression="SET #s = :cancelled, status_message = :m, updated_at = :now,"
            " expires_at = :now_int + ttl_seconds, lease_state = :publishing, lease_expires_at = :due,"
            " sweep_at = :due REMOVE lease_owner ADD completions :one",
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
        )
        if self._transact([end, quotas.on_end(self._table, owner)]):
            return self.get(task_id, owner, now)  # not the owner's, or no longer working
        return self._record(task_id)
