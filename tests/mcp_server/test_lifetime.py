"""A server knows when its session ends (the runtime's max lifetime): work that cannot finish is refused,
and resumable work is handed over before the end, to another session that finishes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_server import constants as c
from mcp_server.tooling import TaskContext, tool
from tests_support import CONTEXT, InProcessServer, client, test_settings

pytestmark = pytest.mark.anyio


@tool(mode="either", max_duration_seconds=600, resumable=True)
async def long_resumable(ctx: TaskContext, steps: int = 60) -> dict[str, int]:
    """Takes a few seconds per run."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps)
        await anyio.sleep(0.05)
        await ctx.checkpoint()
    return {"steps": steps}


@tool(mode="either", max_duration_seconds=600)
async def long_once(ctx: TaskContext) -> str:
    """Cannot resume elsewhere."""
    return "done"


def row(data: Path, task_id: str) -> dict[str, Any]:
    with sqlite3.connect(data / "tasks.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone())


async def test_work_that_cannot_finish_in_the_session_is_refused_and_resumable_work_moves_on(tmp_path: Path) -> None:
    ending = test_settings(tmp_path, TASK_LEASE_SECONDS="1", RUNTIME_MAX_LIFETIME_SECONDS="61")
    other = test_settings(tmp_path, TASK_LEASE_SECONDS="1")
    specs = [long_resumable, long_once]
    with InProcessServer(ending, specs) as first:
        async with client(first.mcp_url, CONTEXT, mode="legacy") as session:
            refused = await session.call_tool("start_long_once", {})
            assert refused.is_error
            assert "this runtime session ends in" in refused.content[0].text
            assert "cannot resume elsewhere" in refused.content[0].text
            started = await session.call_tool("start_long_resumable", {})
            task_id = started.structured_content["task_id"]
        # The session is about to end: the task is released, not failed, and no longer runs here.
        with anyio.fail_after(20):
            while not row(tmp_path, task_id)["handover"]:
                await anyio.sleep(0.05)
        assert row(tmp_path, task_id)["status"] == c.STATUS_WORKING
    with InProcessServer(other, specs):  # a new session (another microVM) on the same store
        with anyio.fail_after(30):
            while (state := row(tmp_path, task_id))["status"] == c.STATUS_WORKING:
                await anyio.sleep(0.05)
    assert state["status"] == c.STATUS_COMPLETED and state["completions"] == 1
    assert state["attempts"] == 1  # a hand-over is not a lost worker
