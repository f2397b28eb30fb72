"""Task engine metrics (CloudWatch EMF lines) and JSON logs, read from a real server process's output."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from tests_support import CONTEXT, client, csv_dataset, start_server, task_call, tasks_extension

pytestmark = pytest.mark.anyio

# Argument values that must never reach the logs.
SECRET_MODEL = "model-name-s3cr3t-7f1c"
SECRET_PATH = "no-such-file-s3cr3t-90ab.csv"
SECRET_GROUP = "grp_s3cr3t_col"
COUNTS = (
    "TasksStarted",
    "TasksCompleted",
    "TasksFailed",
    "TasksCancelled",
    "TaskToolErrors",
    "LostWorkerRecoveries",
)


def json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def emf(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_aws" in line]


async def _wait(session: Any, task_id: str, status: str, message: str = "") -> None:
    with anyio.fail_after(30):
        while True:
            state = await task_call(session, "tasks/get", task_id)
            if state["status"] == status and message in state.get("statusMessage", ""):
                return
            await anyio.sleep(0.05)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One completed, one cancelled and one ended by its tool's error, through a real client; then the output."""
    tmp = tmp_path_factory.mktemp("observability")
    csv_dataset(tmp / "data.csv", 3_000)
    server = start_server(tmp, env={"KIT_ENVIRONMENT": "test-env"})
    ids: dict[str, str] = {}

    async def scenario() -> None:
        async with client(server.mcp_url, CONTEXT) as legacy:  # 2025-era session: logs its creation
            await legacy.list_tools()
        async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            done = await session.session.call_tool(
                "summarize_csv",
                {"path": "data.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 500},
                allow_claimed=True,
            )
            ids["completed"] = done.task_id
            slow = await session.session.call_tool(
                "model_training",
                {"model_name": SECRET_MODEL, "epochs": 500, "seconds_per_epoch": 0.05},
                allow_claimed=True,
            )
            ids["cancelled"] = slow.task_id
            bad = await session.session.call_tool(
                "summarize_csv", {"path": SECRET_PATH, "value_column": SECRET_GROUP}, allow_claimed=True
            )
            ids["tool_error"] = bad.task_id
            await _wait(session, done.task_id, "completed")
            await _wait(session, bad.task_id, "completed")  # a tool's error completes its task (isError)
            await _wait(session, slow.task_id, "working", "epoch")  # progress recorded before the cancel
            await task_call(session, "tasks/cancel", slow.task_id)
            await _wait(session, slow.task_id, "cancelled")

    try:
        anyio.run(scenario)
    finally:
        server.stop()  # the lines are complete once the process has exited
    yield {"ids": ids, "log": server.log()}


def test_every_output_line_is_json(run: dict[str, Any]) -> None:
    assert json_lines(run["log"])  # raises on the first line that is not a JSON object


def test_metrics_are_embedded_metric_format(run: dict[str, Any]) -> None:
    lines = emf(json_lines(run["log"]))
    assert lines
    for line in lines:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "AgentKit/TaskEngine"
        assert directive["Dimensions"] == [["Environment"]]
        assert line["Environment"] == "test-env"
        assert isinstance(line["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:
            unit = "Seconds" if metric["Name"] == "TaskDuration" else "Count"
            assert metric["Unit"] == unit
            assert isinstance(line[metric["Name"]], int | float)


def test_each_transition_is_counted_once(run: dict[str, Any]) -> None:
    ids = run["ids"]
    lines = emf(json_lines(run["log"]))
    counted = Counter((name, line["task_id"]) for line in lines for name in COUNTS if name in line)
    assert counted == Counter(
        [("TasksStarted", task_id) for task_id in ids.values()]
        + [("TasksCompleted", ids["completed"]), ("TasksCancelled", ids["cancelled"])]
        # Completed by the protocol, counted as a tool error for the failure-rate alarm.
        + [("TasksCompleted", ids["tool_error"]), ("TaskToolErrors", ids["tool_error"])]
    )
    durations = {line["task_id"]: line["TaskDuration"] for line in lines if "TaskDuration" in line}
    assert set(durations) == set(ids.values())
    assert all(value > 0 for value in durations.values())


def test_task_lines_carry_task_actor_and_session(run: dict[str, Any]) -> None:
    ids = run["ids"]
    logs = [line for line in json_lines(run["log"]) if "_aws" not in line]
    task_lines = [line for line in logs if "task_id" in line]
    assert task_lines
    for line in task_lines:
        assert (line["actor"], line["session"]) == ("alice", "session-1"), line
        assert line["task_id"] in ids.values()
    by_task = {k: {line["message"] for line in task_lines if line["task_id"] == v} for k, v in ids.items()}
    assert {"task created", "task running", "task progress", "task completed"} <= by_task["completed"]
    assert {"task created", "task completed"} <= by_task["tool_error"]
    assert {"task created", "task progress", "task cancelled"} <= by_task["cancelled"]
    [created] = [line for line in logs if line["message"] == "mcp client initialized"]
    assert (created["actor"], created["session"], created["environment"]) == ("alice", "session-1", "test-env")


def test_argument_values_are_not_logged(run: dict[str, Any]) -> None:
    for secret in (SECRET_MODEL, SECRET_PATH, SECRET_GROUP, "data.csv"):
        assert secret not in run["log"]
