"""Reading and writing the task table's items: what the store's transitions and queries share."""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mcp_server.store import dynamodb_quotas as quotas
from mcp_server.store.base import LeaseLost, TaskRecord
from mcp_server.store.dynamodb_items import from_item, to_av

# The indexes carry keys only: an index write then happens only when an item enters or leaves it or
# its index key changes, never for a renewal or a progress report. Readers fetch the items themselves.
OWNER_INDEX = "by_owner_keys"
SWEEP_INDEX = "by_sweep"
# Sparse: only tasks a reader in another process began to follow, keyed by their worker and when.
FOLLOW_INDEX = "by_follower"
# BatchGetItem takes at most this many keys per call.
BATCH_GET_MAX = 100


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class TableAccess:
    def __init__(self, table_name: str, region: str | None = None, client: Any = None) -> None:
        self._table = table_name
        self._ddb = client or boto3.client("dynamodb", region_name=region)
        # The sweep_at this process last wrote or read back per task it renews (dynamodb_renewals.py).
        self._sweep_written: dict[str, float] = {}

    def _get_item(self, key: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(TableName=self._table, Key=to_av({"task_id": key}), ConsistentRead=True)
        return response.get("Item")

    def _get_items(self, keys: list[str], consistent: bool = False) -> dict[str, dict[str, Any]]:
        """The items of `keys` that exist, by key (BatchGetItem, unprocessed keys retried)."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), BATCH_GET_MAX):
            request = {
                self._table: {
                    "Keys": [to_av({"task_id": k}) for k in keys[i : i + BATCH_GET_MAX]],
                    "ConsistentRead": consistent,
                }
            }
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["task_id"]["S"]] = item
                request = response.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)  # throttled: DynamoDB asks callers to back off before retrying
        return found

    def _index_keys(self, **query: Any) -> list[str]:
        """The task ids a Query on an index returns (its keys only), in the index's order."""
        response = self._ddb.query(TableName=self._table, **query)
        return [item["task_id"]["S"] for item in response.get("Items", [])]

    def _transact(self, items: list[dict[str, Any]]) -> list[str]:
        """Write `items` in one transaction; [] if applied, else each item's cancellation reason."""
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            return quotas.cancellation_codes(error) or ["Unknown"] * len(items)
        return []

    def _update(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._ddb.update_item(TableName=self._table, Key=to_av({"task_id": task_id}), **kwargs)
        except ClientError as error:
            if _conditional_failed(error):
                raise LeaseLost from None
            raise

    def _update_request(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        return {"Update": {"TableName": self._table, "Key": to_av({"task_id": task_id}), **kwargs}}

    def _record(self, task_id: str) -> TaskRecord:
        item = self._get_item(task_id)
        assert item is not None, task_id  # just written; items are deleted only by TTL
        return from_item(item)
