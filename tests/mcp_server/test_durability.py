"""kill -9 the server mid-work, start another on the same store: nothing is lost, nothing finishes twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_server.store.sqlite import SqliteTaskStore
from tests_support import CONTEXT, client, csv_dataset, start_server, task_call, tasks_extension

pytestmark = pytest.mark.anyio


async def test_tasks_survive_kill_9_of_the_server(tmp_path: Path) -> None:
    expected = csv_dataset(tmp_path / "big.csv", 200_000)
    first = start_server(tmp_path)
    created: dict[str, str] = {}
    try:
        async with client(first.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            for i in range(3):
                handle = await session.session.call_tool(
                    "model_training",
                    {"model_name": f"m{i}", "epochs": 40, "seconds_per_epoch": 0.5},
                    allow_claimed=True,
                )
                created[handle.task_id] = "model_training"
            for _ in range(3):
                handle = await session.session.call_tool(
                    "summarize_csv",
                    {"path": "big.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 100},
                    allow_claimed=True,
                )
                created[handle.task_id] = "summarize_csv"
        assert first.ping()["status"] == "HealthyBusy"
    finally:
        first.kill9()

    store = SqliteTaskStore(tmp_path / "tasks.sqlite3")
    at_kill = {tid: store.get(tid, "alice", 0) for tid in created}
    assert all(record is not None for record in at_kill.values()), "a created task was lost"

    second = start_server(tmp_path)
    try:
        async with client(second.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            final: dict[str, dict[str, Any]] = {}
            with anyio.fail_after(90):
                while len(final) < len(created):
                    for task_id in created:
                        state = await task_call(session, "tasks/get", task_id)
                        if state["status"] in ("completed", "failed", "cancelled"):
                            final[task_id] = state
                    await anyio.sleep(0.1)
    finally:
        second.stop()

    for task_id, tool in created.items():
        record = store.get(task_id, "alice", 0)
        assert record is not None and record.completions == 1, (task_id, record)
        if tool == "model_training":
            assert final[task_id]["status"] == "failed"
            assert final[task_id]["error"]["message"].startswith("worker lost")
            assert "not resumable" in final[task_id]["error"]["message"]
        else:
            assert final[task_id]["status"] == "completed", final[task_id]
            groups = final[task_id]["result"]["structuredContent"]["groups"]
            assert {k: v["count"] for k, v in groups.items()} == {k: v["count"] for k, v in expected.items()}
    rerun = [tid for tid, tool in created.items() if tool == "summarize_csv" and at_kill[tid].status == "working"]  # type: ignore[union-attr]
    assert rerun, "expected the resumable tasks to be mid-work at the kill"
    assert all(store.get(tid, "alice", 0).attempts == 2 for tid in rerun)  # type: ignore[union-attr]
    with sqlite3.connect(tmp_path / "results.sqlite3") as db:
        tokens = [row[0] for row in db.execute("SELECT client_token FROM events")]
    assert sorted(tokens) == sorted(f"{tid}-terminal" for tid in created)
    # The sweeper counts each recovered task once (LostWorkerRecoveries, an EMF line).
    lines = [json.loads(line) for line in second.log().splitlines() if line.startswith('{"_aws"')]
    recovered = [line["task_id"] for line in lines if "LostWorkerRecoveries" in line]
    lost = [tid for tid, record in at_kill.items() if record.status == "working"]  # type: ignore[union-attr]
    assert sorted(recovered) == sorted(lost)
    store.close()


async def test_a_question_outlives_kill_9_the_rerun_asks_again_and_the_answer_finishes_it(tmp_path: Path) -> None:
    with (tmp_path / "orders.csv").open("w") as out:
        out.write("order,amount\n")
        out.writelines(f"order-{i % 300},{i % 300 % 7}\n" for i in range(400))
    first = start_server(tmp_path)
    try:
        async with client(first.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            handle = await session.session.call_tool("deduplicate_csv", {"path": "orders.csv"}, allow_claimed=True)
            with anyio.fail_after(30):
                while (state := await task_call(session, "tasks/get", handle.task_id))["status"] != "input_required":
                    await anyio.sleep(0.05)
        [first_key] = state["inputRequests"]
    finally:
        first.kill9()

    second = start_server(tmp_path)  # recovers the lost worker's task: resumable, so it runs again
    try:
        async with client(second.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            with anyio.fail_after(60):
                while True:
                    state = await task_call(session, "tasks/get", handle.task_id)
                    if state["status"] == "input_required" and first_key not in state["inputRequests"]:
                        break  # asked again by the re-run, under a new key
                    await anyio.sleep(0.05)
            [key] = state["inputRequests"]
            answer = {"action": "accept", "content": {"write_copy": True}}
            await task_call(session, "tasks/update", handle.task_id, inputResponses={key: answer})
            with anyio.fail_after(30):
                while (state := await task_call(session, "tasks/get", handle.task_id))["status"] == "working":
                    await anyio.sleep(0.05)
    finally:
        second.stop()
    assert state["status"] == "completed", state
    assert state["result"]["structuredContent"]["rows_written"] == 300
    store = SqliteTaskStore(tmp_path / "tasks.sqlite3")
    record = store.get(handle.task_id, "alice", 0)
    store.close()
    assert record is not None and record.attempts == 2 and record.completions == 1
    assert not list(tmp_path.glob(".orders.dedup.csv.*.partial"))
