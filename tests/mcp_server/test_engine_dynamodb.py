"""The deployed configuration end to end: DynamoDB store (moto, CDK schema) and AgentCore Memory sink (moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest
from tests_support import CONTEXT, InProcessServer, client, csv_dataset, task_call, tasks_extension, test_settings

from kit_contracts.context import RUNTIME_USER_ID_HEADER

pytestmark = pytest.mark.anyio


async def test_a_task_runs_on_dynamodb_and_lands_in_memory(tmp_path: Path, moto_table: tuple[Any, str]) -> None:
    ddb, table = moto_table
    expected = csv_dataset(tmp_path / "d.csv", 2000)
    settings = test_settings(
        tmp_path,
        TASK_STORE="dynamodb",
        TASK_TABLE_NAME=table,
        AWS_REGION="us-east-1",
        RESULT_SINK="agentcore",
        CALLER_IDENTITY="runtime-user-id",
    )
    # Deployed with IAM auth: the platform passes the runtime user id the agent set.
    headers = {**CONTEXT, RUNTIME_USER_ID_HEADER: "alice"}
    with InProcessServer(settings, None) as srv:
        async with client(srv.mcp_url, headers, mode="auto", extensions=[tasks_extension()]) as session:
            handle = await session.session.call_tool(
                "summarize_csv", {"path": "d.csv", "value_column": "amount", "group_by": "region"}, allow_claimed=True
            )
            # Durable before the reply: the item is in the table as the client reads the handle.
            item = ddb.get_item(TableName=table, Key={"task_id": {"S": handle.task_id}})["Item"]
            assert item["owner"] == {"S": "alice"}
            with anyio.fail_after(30):
                while (state := await task_call(session, "tasks/get", handle.task_id))["status"] == "working":
                    await anyio.sleep(0.05)
            # `completed` is visible before its result event is written: wait for the publication.
            with anyio.fail_after(30):
                while "lease_state" in ddb.get_item(TableName=table, Key={"task_id": {"S": handle.task_id}})["Item"]:
                    await anyio.sleep(0.05)
    assert state["status"] == "completed"
    groups = state["result"]["structuredContent"]["groups"]
    assert {k: v["count"] for k, v in groups.items()} == {k: v["count"] for k, v in expected.items()}
    item = ddb.get_item(TableName=table, Key={"task_id": {"S": handle.task_id}})["Item"]
    assert "lease_state" not in item and item["completions"] == {"N": "1"}  # published, off the lease index
    memory = boto3.client("bedrock-agentcore", region_name="us-east-1")
    events = memory.list_events(
        memoryId="taskMemory-AbCdE12345", actorId="alice", sessionId="session-1", includePayloads=True
    )["events"]
    assert [e["metadata"]["task_id"]["stringValue"] for e in events] == [handle.task_id]
