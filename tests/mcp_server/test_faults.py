"""Fault injection: a failure stays inside one task, and the server keeps serving.

A store that fails on each kind of write, a memory sink that is denied, an oversized result and
arguments, a burst of throttles: each run ends with no task left `working` past its lease, no
result lost or written twice, and the server still answering (a new task still completes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx2
import pytest
from botocore.exceptions import ClientError
from mcp_server import constants as c
from mcp_server.results_sink import SqliteSink
from mcp_server.store.sqlite import SqliteTaskStore
from mcp_server.tooling import TaskContext, tool
from pydantic import Field
from tests_support import CONTEXT, InProcessServer, client, test_settings

pytestmark = pytest.mark.anyio
LEASE = 1.0


def throttled(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation)


class FaultyStore:
    """A real SQLite store whose chosen methods raise, a given number of times (or until healed)."""

    def __init__(self, inner: SqliteTaskStore) -> None:
        self.inner = inner
        self.faults: dict[str, int] = {}
        self.error: Callable[[str], Exception] = lambda name: RuntimeError(f"injected fault in {name}")

    def fail(self, name: str, times: int = 1_000_000) -> None:
        self.faults[name] = times

    def heal(self) -> None:
        self.faults.clear()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.faults.get(name, 0) > 0:
                self.faults[name] -= 1
                raise self.error(name)
            return target(*args, **kwargs)

        return call


class FaultySink(SqliteSink):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.denied = False

    def write(self, event: Any) -> None:
        if self.denied:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "CreateEvent")
        super().write(event)


@tool(mode="either", max_duration_seconds=60)
async def quick(ctx: TaskContext, steps: int = 3) -> dict[str, int]:
    """Reports progress a few times and returns."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
        await anyio.sleep(0.05)
    return {"steps": steps}


@tool(mode="either", max_duration_seconds=60)
async def big(ctx: TaskContext, kilobytes: int = 600) -> dict[str, str]:
    """Returns a result larger than a task item may hold."""
    return {"blob": "x" * (kilobytes * 1024)}


@tool(mode="either", max_duration_seconds=60)
async def echo(ctx: TaskContext, data: Annotated[str, Field(description="anything")] = "") -> int:
    """Returns the length of its argument."""
    return len(data)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[InProcessServer, FaultyStore, FaultySink, Path]]:
    settings = test_settings(tmp_path, TASK_LEASE_SECONDS=str(LEASE), PUBLISH_MAX_ATTEMPTS="2")
    store = FaultyStore(SqliteTaskStore(tmp_path / "tasks.sqlite3"))
    sink = FaultySink(tmp_path / "results.sqlite3")
    with InProcessServer(settings, [quick, big, echo], store=store, sink=sink) as server:
        yield server, store, sink, tmp_path


def stored(data: Path, task_id: str) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(data / "tasks.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone())


async def start(server: InProcessServer, name: str, arguments: dict[str, Any]) -> str:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        started = await session.call_tool(f"start_{name}", arguments)
        assert not started.is_error, started.content
        return str(started.structured_content["task_id"])


async def until(condition: Callable[[], Any], seconds: float = 20) -> Any:
    with anyio.fail_after(seconds):
        while not (found := condition()):
            await anyio.sleep(0.05)
    return found


def events(data: Path, task_id: str) -> list[str]:
    import sqlite3

    with sqlite3.connect(data / "results.sqlite3") as db:
        return [r[0] for r in db.execute("SELECT client_token FROM events WHERE client_token LIKE ?", (f"{task_id}%",))]


async def still_serving(server: InProcessServer, data: Path) -> None:
    assert httpx2.get(server.mcp_url.replace("/mcp", "/ping"), timeout=5).json()["status"] in ("Healthy", "HealthyBusy")
    task_id = await start(server, "quick", {"steps": 2})
    row = await until(lambda: (r := stored(data, task_id))["status"] == c.STATUS_COMPLETED and r)
    assert row["completions"] == 1


@pytest.mark.parametrize("times", [1, 2])
async def test_a_failed_finish_fails_that_task_only(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path], times: int
) -> None:
    server, store, _, data = rig
    store.fail("finish", times)  # 1: the fault path fails the task; 2: the lease runs out, a sweeper does
    task_id = await start(server, "quick", {})
    row = await until(lambda: (r := stored(data, task_id))["status"] != c.STATUS_WORKING and r)
    assert row["status"] == c.STATUS_FAILED and row["completions"] == 1
    assert "injected fault in finish" in row["status_message"] or "worker lost" in row["status_message"]
    await until(lambda: events(data, task_id) == [f"{task_id}-terminal"])
    await still_serving(server, data)


async def test_a_burst_of_throttled_renewals_is_ridden_out(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path],
) -> None:
    server, store, _, data = rig
    store.error = lambda name: throttled("UpdateItem")
    store.fail("renew", 2)
    task_id = await start(server, "quick", {"steps": 10})
    row = await until(lambda: (r := stored(data, task_id))["status"] != c.STATUS_WORKING and r)
    assert row["status"] == c.STATUS_COMPLETED and row["progress"] == row["total"] == 10
    assert row["status_message"] == "step 10 of 10"  # the final progress, not a stale one
    await still_serving(server, data)


async def test_a_store_that_keeps_refusing_renewals_makes_the_server_say_so(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path],
) -> None:
    server, store, _, data = rig
    task_id = await start(server, "quick", {"steps": 400})
    store.fail("renew")
    ping = server.mcp_url.replace("/mcp", "/ping")
    await until(lambda: httpx2.get(ping, timeout=5).status_code == 503)
    assert httpx2.get(ping, timeout=5).json()["status"] == "Unhealthy"
    answer = httpx2.post(server.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=5)
    assert answer.status_code == 503 and "task store" in answer.json()["error"]["message"]
    store.heal()
    await until(lambda: httpx2.get(ping, timeout=5).status_code == 200)
    row = await until(lambda: (r := stored(data, task_id))["status"] != c.STATUS_WORKING and r, seconds=60)
    assert row["completions"] == 1  # it finished, or its lost lease was recovered: not left working
    await still_serving(server, data)


async def test_a_failed_create_stores_nothing_and_says_so(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path],
) -> None:
    server, store, _, data = rig
    store.error = lambda name: throttled("PutItem")
    store.fail("create", 1)
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        refused = await session.call_tool("start_quick", {})
        assert refused.is_error
    import sqlite3

    with sqlite3.connect(data / "tasks.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 0
    await still_serving(server, data)


async def test_a_denied_memory_write_is_retried_then_given_up_without_stalling_recovery(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path],
) -> None:
    server, _, sink, data = rig
    sink.denied = True
    task_id = await start(server, "quick", {})
    # Completed at once; its event is due, retried by the sweeper with backoff, then given up on.
    await until(lambda: stored(data, task_id)["publish_abandoned"] == 1, seconds=30)
    row = stored(data, task_id)
    assert row["status"] == c.STATUS_COMPLETED and row["publish_attempts"] == 2 and row["publish_due_at"] is None
    sink.denied = False
    await still_serving(server, data)  # meanwhile recovery and new work went on
    assert events(data, task_id) == []


async def test_a_result_too_large_for_the_store_goes_to_the_result_files(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path],
) -> None:
    server, _, _, data = rig
    task_id = await start(server, "big", {"kilobytes": 600})
    await until(lambda: stored(data, task_id)["status"] == c.STATUS_COMPLETED)
    assert len(stored(data, task_id)["result"]) < 5_000  # a link, not the result
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        linked = await session.call_tool("get_task_result", {"task_id": task_id})
        link = next(block for block in linked.content if block.type == "resource_link")
        assert link.size > 600 * 1024 and str(link.uri) == f"task-result://{task_id}"
        parts, offset = [], 0
        while offset is not None:
            part = (
                await session.call_tool("read_task_result", {"task_id": task_id, "offset": offset})
            ).structured_content
            parts.append(part["text"])
            offset = part["next_offset"]
        whole = "".join(parts).encode()
        assert hashlib.sha256(whole).hexdigest() == part["sha256"] and len(whole) == part["total_bytes"]
        assert json.loads(whole)["structuredContent"]["blob"] == "x" * (600 * 1024)
    async with client(server.mcp_url, {**CONTEXT, c.ACTOR_ID_HEADER: "mallory"}, mode="legacy") as other:
        refused = await other.call_tool("read_task_result", {"task_id": task_id})
        assert refused.is_error and "not found" in refused.content[0].text


async def test_only_validated_arguments_are_stored_and_their_size_is_capped(
    rig: tuple[InProcessServer, FaultyStore, FaultySink, Path],
) -> None:
    server, _, _, data = rig
    task_id = await start(server, "echo", {"data": "abc", **{f"extra{i}": "y" * 1000 for i in range(300)}})
    assert json.loads(stored(data, task_id)["arguments"]) == {"data": "abc"}  # 300 KB of unknown keys dropped
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        refused = await session.call_tool("start_echo", {"data": "z" * 100_000})
        assert refused.is_error and "arguments: expected at most 65536 bytes of JSON" in refused.content[0].text
    await still_serving(server, data)
