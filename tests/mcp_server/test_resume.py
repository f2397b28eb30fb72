"""Checkpointed resume: a re-run continues from its last checkpoint, with nothing redone but the
work since that checkpoint, and gives the result an uninterrupted run gives.

Property tests run the shipped tools with the public `mcp_server.testing` harness, crashing after
a random checkpoint and resuming from a random earlier one (the last one may not have been written
before the process died). The black-box tests kill or stop real servers: kill -9 on SQLite, and a
chain of sessions handed over at their end on SQLite and DynamoDB (moto).
"""

from __future__ import annotations

import csv
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_server import constants as c
from mcp_server.testing import Crashed, run_tool
from mcp_server.tooling import CheckpointRejected, TaskContext, checkpoint_json, tool
from mcp_server.tools.csv_summary import csv_summary_tool
from mcp_server.tools.dedup import dedup_tool
from tests_support import CONTEXT, InProcessServer, client, csv_dataset, start_server, test_settings

ROWS = 3_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume")
    csv_dataset(root / "sales.csv", ROWS)
    with (root / "dupes.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "note"])
        for i in range(ROWS):
            # Every third row repeats an earlier one; some fields hold quoted newlines.
            writer.writerow([i % 2000, f"line {i % 2000}\nsecond line" if i % 7 == 0 else f"n{i % 2000}"])
    return root


async def resumed(tool: Any, arguments: dict[str, Any], crash_after: int, resume_from: int, **ctx: Any) -> Any:
    first = await run_tool(tool, arguments, crash_after=crash_after, **ctx)
    assert isinstance(first.error, Crashed), "the run ended before the crash point"
    state = first.checkpoints[resume_from - 1] if resume_from else None
    again = await run_tool(tool, arguments, resume_state=state, files=first.files, **ctx)
    return again


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crash=st.integers(1, ROWS // 100 - 1), back=st.integers(0, 3), group=st.sampled_from([None, "region", "note"]))
def test_summarize_csv_resumed_anywhere_gives_the_uninterrupted_result(
    data: Path, crash: int, back: int, group: str | None
) -> None:
    tool = csv_summary_tool(data)
    arguments = {"path": "sales.csv", "value_column": "amount", "group_by": group, "chunk_rows": 100}

    async def check() -> None:
        whole = await run_tool(tool, arguments)
        again = await resumed(tool, arguments, crash, max(crash - back, 0))
        assert again.result == whole.result
        # It started where the checkpoint left it: progress never went back below it.
        assert again.progress[0][0] >= (again.context.resume_state or {"offset": 0})["offset"]

    anyio.run(check)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crash=st.integers(1, ROWS // 100 - 1), back=st.integers(0, 3), keep=st.sampled_from(["first", "last"]))
def test_deduplicate_csv_resumed_anywhere_gives_the_uninterrupted_result(
    data: Path, crash: int, back: int, keep: str
) -> None:
    tool = dedup_tool(data)
    arguments = {"path": "dupes.csv", "chunk_rows": 100}
    answer = {"write_copy": True, "keep": keep}

    async def check() -> None:
        whole = await run_tool(tool, arguments, answers=[answer])
        copy = (data / "dupes.dedup.csv").read_bytes()
        again = await resumed(tool, arguments, crash, max(crash - back, 0), answers=[answer])
        assert again.result == whole.result and whole.result.duplicate_rows > 500
        assert (data / "dupes.dedup.csv").read_bytes() == copy

    anyio.run(check)


def test_an_answered_question_is_not_asked_again_on_a_re_run(data: Path) -> None:
    tool = dedup_tool(data)

    async def check() -> None:
        first = await run_tool(tool, {"path": "dupes.csv", "chunk_rows": 100}, answers=[{"write_copy": False}])
        answered = first.checkpoints[-1]
        assert answered["phase"] == "answered"
        again = await run_tool(tool, {"path": "dupes.csv", "chunk_rows": 100}, resume_state=answered, files=first.files)
        assert again.context.questions == [] and again.result.outcome == "not requested"

    anyio.run(check)


def test_a_checkpoint_must_be_small_json() -> None:
    with pytest.raises(CheckpointRejected, match="expected at most 32768"):
        checkpoint_json({"blob": "x" * 40_000})
    with pytest.raises(CheckpointRejected, match="expected JSON"):
        checkpoint_json({"when": object()})


# ---------------------------------------------------------------- black box
def task_row(store: Path, task_id: str) -> dict[str, Any]:
    with sqlite3.connect(store / "tasks.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone())


@pytest.mark.anyio
async def test_kill_9_at_half_way_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    # About a second of work: progress and checkpoints are written with each lease renewal (a third
    # of a lease), so the lease is short here and a checkpoint is stored long before the end.
    expected = csv_dataset(tmp_path / "big.csv", 1_000_000)
    env = {"TASK_LEASE_SECONDS": "0.3"}
    server = start_server(tmp_path, env)
    try:
        async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
            started = await session.call_tool(
                "start_summarize_csv",
                {"path": "big.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 2000},
            )
            task_id = started.structured_content["task_id"]
        with anyio.fail_after(60):
            while not (
                task_row(tmp_path, task_id)["checkpoint"] and (task_row(tmp_path, task_id)["progress"] or 0) > 0
            ):
                await anyio.sleep(0.02)
        server.kill9()
        at_kill = task_row(tmp_path, task_id)
        assert at_kill["status"] == c.STATUS_WORKING
    finally:
        server.stop()
    seen = [at_kill["progress"]]
    restarted = start_server(tmp_path, env)
    try:
        with anyio.fail_after(60):
            while (row := task_row(tmp_path, task_id))["status"] == c.STATUS_WORKING:
                seen.append(row["progress"])
                await anyio.sleep(0.02)
        async with client(restarted.mcp_url, CONTEXT, mode="legacy") as session:
            result = (await session.call_tool("get_task_result", {"task_id": task_id})).structured_content
            status = (await session.call_tool("check_task_status", {"task_id": task_id})).structured_content
    finally:
        restarted.stop()
    assert row["status"] == c.STATUS_COMPLETED and row["completions"] == 1
    assert status["attempt"] == 2
    assert seen == sorted(seen), "progress went back after the restart"
    assert {k: v["count"] for k, v in result["groups"].items()} == {k: v["count"] for k, v in expected.items()}


# Items a chained task processed, in order, across every session (the servers run in this process).
WORK_LOG: list[int] = []


@tool(mode="task", max_duration_seconds=600, resumable=True)
async def count_to(ctx: TaskContext, items: int = 300, every: int = 10) -> dict[str, int]:
    """Processes items one by one, checkpointing every `every` items."""
    start = (ctx.resume_state or {}).get("next", 0)
    for item in range(start, items):
        WORK_LOG.append(item)
        await anyio.sleep(0.02)
        if (item + 1) % every == 0:
            await ctx.report_progress(item + 1, items)
            await ctx.checkpoint({"next": item + 1})
    return {"items": items}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    _, table = request.getfixturevalue("moto_table")
    yield {
        "TASK_STORE": "dynamodb",
        "TASK_TABLE_NAME": table,
        "AWS_REGION": "us-east-1",
        "CALLER_IDENTITY": "local-test",
    }


@pytest.mark.anyio
async def test_work_longer_than_a_session_continues_across_sessions(tmp_path: Path, store_env: dict[str, str]) -> None:
    from kit_contracts.context import RUNTIME_USER_ID_HEADER

    WORK_LOG.clear()
    dynamodb = bool(store_env)
    env = {
        **store_env,
        "CALLER_IDENTITY": "runtime-user-id" if dynamodb else "local",
        "TASK_LEASE_SECONDS": "1",
        # A session lives 62 s and hands its work over a minute before the end: about 2 s of work each.
        "RUNTIME_MAX_LIFETIME_SECONDS": "62",
    }
    headers = {**CONTEXT, RUNTIME_USER_ID_HEADER: "alice"}
    progress: list[float] = []
    sessions = 0
    task_id = None
    store = None
    with anyio.fail_after(120):
        while True:
            with InProcessServer(test_settings(tmp_path, **env), [count_to]) as server:
                sessions += 1
                store = server.assembled.engine.store
                if task_id is None:
                    async with client(server.mcp_url, headers, mode="legacy") as session:
                        started = await session.call_tool("start_count_to", {})
                        task_id = started.structured_content["task_id"]
                # This session runs the task until it hands it over (or finishes it).
                while True:
                    record = store.get(task_id, "alice", time.time())
                    assert record is not None
                    if record.progress is not None:
                        progress.append(record.progress)
                    # Handed over by this session (not the previous one's hand-over, not yet taken up here).
                    mine = record.lease_owner == server.assembled.engine.worker_id
                    if record.status != c.STATUS_WORKING or (record.handover and mine):
                        break
                    await anyio.sleep(0.05)
            if record.status != c.STATUS_WORKING:
                break
    assert record.status == c.STATUS_COMPLETED and record.completions == 1
    assert sessions >= 3 and record.attempts == 1  # hand-overs cost no attempt
    assert progress == sorted(progress)
    # Every item done; at most one checkpoint interval redone per hand-over.
    assert sorted(set(WORK_LOG)) == list(range(300))
    assert len(WORK_LOG) <= 300 + (sessions - 1) * 10


@tool(mode="task", max_duration_seconds=60, resumable=True)
async def check_back(ctx: TaskContext, checks: int = 2, wait_seconds: float = 1.5) -> dict[str, int]:
    """Looks at something, then durably sleeps before looking again."""
    done = (ctx.resume_state or {}).get("checks", 0)
    while done < checks:
        done += 1
        await ctx.report_progress(done, checks, f"check {done} of {checks}")
        await ctx.checkpoint({"checks": done})
        if done < checks:
            await ctx.sleep(wait_seconds)
    return {"checks": done, "runs": ctx.attempt}


@pytest.mark.anyio
async def test_a_durable_sleep_parks_the_task_and_it_wakes_when_due(tmp_path: Path) -> None:
    import httpx2

    settings = test_settings(tmp_path, TASK_LEASE_SECONDS="1", TASK_PARK_AFTER_SECONDS="1")
    with InProcessServer(settings, [check_back]) as server:
        async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
            task_id = (await session.call_tool("start_check_back", {})).structured_content["task_id"]
        with anyio.fail_after(20):
            while not (task_row(tmp_path, task_id)["status_message"] or "").startswith("sleeping until"):
                await anyio.sleep(0.02)
        # Parked: no work here, nothing keeping the session busy, the task still working.
        assert server.assembled.engine.running_count == 0
        ping = httpx2.get(server.mcp_url.replace("/mcp", "/ping"), timeout=5).json()
        assert ping["status"] == "Healthy"
        assert task_row(tmp_path, task_id)["status"] == c.STATUS_WORKING
        with anyio.fail_after(20):
            while (row := task_row(tmp_path, task_id))["status"] == c.STATUS_WORKING:
                await anyio.sleep(0.05)
    assert row["status"] == c.STATUS_COMPLETED and row["attempts"] == 1 and row["completions"] == 1
    assert row["progress"] == row["total"] == 2
