"""Reading and writing the task table's items: what the store's transitions and queries share."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from mcp_server.store import dynamodb_quotas as quotas
from mcp_server.store.base import LeaseLost, TaskRecord
from mcp_server.store.dynamodb_items import from_item, to_av

OWNER_INDEX = "by_owner"
LEASE_INDEX = "by_lease"


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class TableAccess:
    def __init__(self, table_name: str, region: str | None = None, client: Any = None) -> None:
        self._table = table_name
        self._ddb = client or boto3.client("dynamodb", region_name=region)

    def _get_item(self, key: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(TableName=self._table, Key=to_av({"task_id": key}), ConsistentRead=True)
        return response.get("Item")

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
