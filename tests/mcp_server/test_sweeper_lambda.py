"""The scheduled sweeper (sweeper_lambda.run) against DynamoDB and AgentCore Memory (moto), no server alive.

The runtime wake is a botocore Stubber on a real bedrock-agentcore client: the request it sends is
validated against botocore's service model. What moto cannot prove: that AgentCore starts a
microVM for the woken session and keeps it while the task runs (the server's /ping is HealthyBusy
then; tested in test_server_smoke.py), and IAM (tests/infra checks the Lambda's role).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from mcp_server import constants as c
from mcp_server.store.base import NewTask
from mcp_server.store.dynamodb import DynamoDbTaskStore
from mcp_server.sweeper_lambda import SweepSettings, run
from tests_support import IMAGE_DIR

RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/kit_dev_mcp_server-AbCdE12345"
MEMORY = "kitMemory-AbCdE12345"


@pytest.fixture
def table(moto_table: tuple[Any, str]) -> Iterator[tuple[Any, str, DynamoDbTaskStore]]:
    ddb, name = moto_table
    yield ddb, name, DynamoDbTaskStore(name, client=ddb)


def settings(table_name: str, **extra: str) -> SweepSettings:
    return SweepSettings.load(
        {
            "TASK_TABLE_NAME": table_name,
            "MEMORY_ID": MEMORY,
            "KIT_ENVIRONMENT": "dev",
            "TASK_LEASE_SECONDS": "30",
            **extra,
        }
    )


def lost_task(store: DynamoDbTaskStore, *, resumable: bool, minutes_ago: float = 10) -> str:
    started = time.time() - minutes_ago * 60
    new = NewTask(
        task_id=f"t-{time.monotonic_ns()}",
        owner="alice",
        session_id="task-results",
        memory_id=MEMORY,
        tool="summarize_csv",
        arguments={"path": "a.csv"},
        ttl_seconds=86_400,
        worker_id="reaped-microvm",
        resumable=resumable,
    )
    store.create(new, started, 30)
    return new.task_id


def metrics(printed: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for line in printed.splitlines():
        if line.startswith('{"_aws"'):
            body = json.loads(line)
            for metric in body["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                found.setdefault(metric["Name"], []).append(body[metric["Name"]])
    return found


def test_a_lost_task_is_failed_and_its_outcome_reaches_memory(table: tuple[Any, str, DynamoDbTaskStore]) -> None:
    ddb, name, store = table
    task_id = lost_task(store, resumable=False)
    memory = boto3.client("bedrock-agentcore", region_name="us-east-1")
    printed = io.StringIO()
    with redirect_stdout(printed):
        done = run(settings(name), ddb=ddb, memory=memory)
    assert done == {"recovered": 1, "republished": 0}
    record = store.get(task_id, "alice", time.time())
    assert record is not None and record.status == c.STATUS_FAILED and "worker lost" in (record.status_message or "")
    events = memory.list_events(memoryId=MEMORY, actorId="alice", sessionId="task-results", includePayloads=True)
    assert [e["metadata"]["task_id"]["stringValue"] for e in events["events"]] == [task_id]
    # The alarm's input: how long the oldest lost task waited (about its ten minutes).
    assert 500 < max(metrics(printed.getvalue())["OldestExpiredLeaseAge"]) < 700


def test_a_lost_resumable_task_is_handed_to_a_fresh_session(table: tuple[Any, str, DynamoDbTaskStore]) -> None:
    ddb, name, store = table
    task_id = lost_task(store, resumable=True)
    runtime = boto3.client("bedrock-agentcore", region_name="us-east-1")
    with Stubber(runtime) as stub:
        # Stubber checks these parameters against botocore's model of InvokeAgentRuntime.
        stub.add_response(
            "invoke_agent_runtime",
            {"contentType": "application/json", "statusCode": 200, "runtimeSessionId": "x" * 36, "response": b"{}"},
            {
                "agentRuntimeArn": RUNTIME_ARN,
                # The endpoint serving the promoted version, not DEFAULT (the newest).
                "qualifier": "live_2",
                "runtimeSessionId": ANY,
                "contentType": "application/json",
                "accept": "application/json, text/event-stream",
                "payload": ANY,
            },
        )
        run(
            settings(name, MCP_RUNTIME_ARN=RUNTIME_ARN, MCP_RUNTIME_ENDPOINT="live_2"),
            ddb=ddb,
            memory=runtime,
            runtime=runtime,
        )
        stub.assert_no_pending_responses()
    record = store.get(task_id, "alice", time.time())
    # Still working, free for the woken server to take over at once, and no attempt spent.
    assert record is not None and record.status == c.STATUS_WORKING
    assert record.handover and record.attempts == 2  # the reaped worker's loss counted once
    assert record.lease_expires_at is not None and record.lease_expires_at <= time.time()
    taken = store.take_over(task_id, record.lease_owner or "", "woken-server", time.time(), 30, count_attempt=False)
    assert taken and store.get(task_id, "alice", time.time()).attempts == 2  # type: ignore[union-attr]


def test_with_no_runtime_to_wake_a_resumable_task_waits_and_the_backlog_shows(
    table: tuple[Any, str, DynamoDbTaskStore],
) -> None:
    ddb, name, store = table
    task_id = lost_task(store, resumable=True, minutes_ago=20)
    printed = io.StringIO()
    with redirect_stdout(printed):
        run(settings(name), ddb=ddb, memory=boto3.client("bedrock-agentcore", region_name="us-east-1"))
    record = store.get(task_id, "alice", time.time())
    assert record is not None and record.status == c.STATUS_WORKING and record.lease_owner == "reaped-microvm"
    assert max(metrics(printed.getvalue())["OldestExpiredLeaseAge"]) > 1100


def test_a_refused_result_event_is_retried_then_given_up_with_a_metric(
    table: tuple[Any, str, DynamoDbTaskStore],
) -> None:
    ddb, name, store = table
    task_id = lost_task(store, resumable=False, minutes_ago=0)
    store.finish(
        task_id, "reaped-microvm", c.STATUS_COMPLETED, time.time() - 100, result={"content": []}, publish_after=0
    )

    class Denied:
        def create_event(self, **_: Any) -> None:
            raise RuntimeError("AccessDeniedException")

    printed = io.StringIO()
    with redirect_stdout(printed):
        for _ in range(3):
            # Each sweep tries once, then waits its backoff: clear the due time to run the next one now.
            run(settings(name, PUBLISH_MAX_ATTEMPTS="2"), ddb=ddb, memory=Denied())
            item = store.get(task_id, "alice", time.time())
            if item is not None and item.publish_due_at is not None:
                ddb.update_item(
                    TableName=name,
                    Key={"task_id": {"S": task_id}},
                    UpdateExpression="SET lease_expires_at = :past, sweep_at = :past",
                    ExpressionAttributeValues={":past": {"N": "1"}},
                )
    record = store.get(task_id, "alice", time.time())
    assert record is not None and record.publish_abandoned and record.publish_attempts == 2
    assert metrics(printed.getvalue())["AbandonedPublications"] == [1]


def test_the_lambda_imports_neither_the_web_server_nor_the_mcp_sdk() -> None:
    probe = (
        "import sys; import mcp_server.sweeper_lambda; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'starlette', 'uvicorn', 'anyio', 'httpx2')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=IMAGE_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
