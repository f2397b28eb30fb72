"""A reader in another server sees fresh progress of a task running elsewhere, on its first read too.

Two engines share one task store (SQLite file, or the DynamoDB table on moto with the CDK schema and
its follow index), each served on its own loopback port: the runner runs the task, the reader only reads
it. The store holds progress as of the last write (the lease renewal, every third of a 30 s lease here):
the reader's first `tasks/get` marks the task followed, the runner learns so from its next look at the
follow index and writes at once, and the read waits for that write (engine/following.py, engine/leases.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_server.engine.following import WAIT_SECONDS
from mcp_server.store import TaskStore
from mcp_server.store.dynamodb import DynamoDbTaskStore
from mcp_server.store.sqlite import SqliteTaskStore
from tests_support import CONTEXT, InProcessServer, client, task_call, tasks_extension, test_settings

from kit_contracts.context import RUNTIME_USER_ID_HEADER

pytestmark = pytest.mark.anyio

# Renewed every 10 s; progress older than 3 s is stale to a reader.
SLOW = {"TASK_LEASE_SECONDS": "30", "TASK_PROGRESS_WRITE_SECONDS": "3"}
STALE_SECONDS = 3.5
TRAINING = {"model_name": "m", "epochs": 600, "seconds_per_epoch": 0.05}


# Deployed with IAM auth (the DynamoDB store requires it): the platform passes the runtime user id.
HEADERS = {**CONTEXT, RUNTIME_USER_ID_HEADER: "alice"}


def modern(url: str) -> Any:
    return client(url, HEADERS, mode="auto", extensions=[tasks_extension()])


def stores(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Any, TaskStore]:
    """The settings of both servers, and a store of their own for the test to look at the table with."""
    if kind == "sqlite":
        return test_settings(tmp_path, **SLOW), SqliteTaskStore(tmp_path / "tasks.sqlite3")
    ddb, table = request.getfixturevalue("moto_table")
    settings = test_settings(
        tmp_path,
        TASK_STORE="dynamodb",
        TASK_TABLE_NAME=table,
        AWS_REGION="us-east-1",
        CALLER_IDENTITY="runtime-user-id",
        **SLOW,
    )
    return settings, DynamoDbTaskStore(table, client=ddb)


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> TaskStore:
    """A store of its own for each server (as each process has), on the same table."""
    if kind == "sqlite":
        return SqliteTaskStore(tmp_path / "tasks.sqlite3")
    ddb, table = request.getfixturevalue("moto_table")
    return DynamoDbTaskStore(table, client=ddb)


async def start_training(url: str) -> str:
    async with modern(url) as session:
        handle = await session.session.call_tool("model_training", TRAINING, allow_claimed=True)
    return handle.task_id


async def until_stale(probe: TaskStore, task_id: str) -> Any:
    """The stored record once its progress is older than a reader accepts (the next renewal is 10 s away)."""
    with anyio.fail_after(20):
        while time.time() - (record := probe.get(task_id, "alice", time.time())).updated_at <= STALE_SECONDS:
            await anyio.sleep(0.1)
    assert record.status == "working"
    return record


def epoch_of(state: dict[str, Any]) -> int:
    return int(state["statusMessage"].split()[1].split("/")[0])


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
async def test_a_first_read_elsewhere_gets_progress_its_worker_wrote_for_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings, probe = stores(kind, tmp_path, request)
    runner_store, reader_store = make_store(kind, tmp_path, request), make_store(kind, tmp_path, request)
    with (
        InProcessServer(settings, None, store=runner_store) as runner,
        InProcessServer(settings, None, store=reader_store) as reader,
    ):
        task_id = await start_training(runner.mcp_url)
        before = await until_stale(probe, task_id)
        async with modern(reader.mcp_url) as elsewhere:
            state = await task_call(elsewhere, "tasks/get", task_id)
            answered = time.time()
            # Followed now: its worker writes every TASK_PROGRESS_WRITE_SECONDS (3 s), not every 10 s.
            ages = []
            for _ in range(3):
                await anyio.sleep(1.5)
                again = await task_call(elsewhere, "tasks/get", task_id)
                ages.append(time.time() - datetime.fromisoformat(again["lastUpdatedAt"]).timestamp())
            await task_call(elsewhere, "tasks/cancel", task_id)
    assert state["status"] == "working"
    age = answered - datetime.fromisoformat(state["lastUpdatedAt"]).timestamp()
    assert age < STALE_SECONDS - 0.5, (age, before.updated_at)
    assert epoch_of(state) > (before.progress or 0)
    assert max(ages) < STALE_SECONDS + 1.5, ages  # 3 s between writes, the runner's wake and a report
    followed = probe.get(task_id, "alice", time.time())
    assert followed is not None and followed.follower == before.lease_owner


class FollowsUnreadable(SqliteTaskStore):
    """A worker whose look at its new follows fails (its store reads erroring): renewals still work."""

    def follows_since(self, worker_id: str, since: float) -> dict[str, float]:
        raise OSError("store unreachable")


class FollowRefused(SqliteTaskStore):
    """A reader whose follow mark cannot be written."""

    def follow(self, *args: Any, **kwargs: Any) -> bool:
        raise OSError("store unreachable")


@contextmanager
def two_servers(
    tmp_path: Path, runner_store: type[SqliteTaskStore], reader_store: type[SqliteTaskStore]
) -> Iterator[tuple[InProcessServer, InProcessServer, SqliteTaskStore]]:
    """The runner and the reader on one SQLite file, each with its own store; and one to look with."""
    path, settings = tmp_path / "tasks.sqlite3", test_settings(tmp_path, **SLOW)
    with (
        InProcessServer(settings, None, store=runner_store(path)) as runner,
        InProcessServer(settings, None, store=reader_store(path)) as reader,
    ):
        yield runner, reader, SqliteTaskStore(path)


async def test_a_worker_that_cannot_read_its_follows_leaves_the_reader_the_stored_progress(tmp_path: Path) -> None:
    with two_servers(tmp_path, FollowsUnreadable, SqliteTaskStore) as (runner, reader, probe):
        task_id = await start_training(runner.mcp_url)
        before = await until_stale(probe, task_id)
        async with modern(reader.mcp_url) as elsewhere:
            with anyio.fail_after(WAIT_SECONDS + 10):  # waits for the write that does not come, then answers
                state = await task_call(elsewhere, "tasks/get", task_id)
            # The mark is in the store all the same: the runner's next renewal (10 s) tells it.
            marked = probe.get(task_id, "alice", time.time())
            assert marked is not None and marked.follower == before.lease_owner
            with anyio.fail_after(20):
                while (again := probe.get(task_id, "alice", time.time())).updated_at == before.updated_at:
                    await anyio.sleep(0.1)
            await task_call(elsewhere, "tasks/cancel", task_id)
    assert state["status"] == "working"
    assert datetime.fromisoformat(state["lastUpdatedAt"]).timestamp() == pytest.approx(before.updated_at, abs=0.01)
    assert again.status == "working" and again.progress > (before.progress or 0)  # the lease renewed, as ever


async def test_a_reader_that_cannot_mark_the_task_is_answered_at_once(tmp_path: Path) -> None:
    with two_servers(tmp_path, SqliteTaskStore, FollowRefused) as (runner, reader, probe):
        task_id = await start_training(runner.mcp_url)
        before = await until_stale(probe, task_id)
        async with modern(reader.mcp_url) as elsewhere:
            state = await task_call(elsewhere, "tasks/get", task_id)
            await task_call(elsewhere, "tasks/cancel", task_id)
    assert state["status"] == "working" and state.get("statusMessage") == before.status_message
    assert datetime.fromisoformat(state["lastUpdatedAt"]).timestamp() == pytest.approx(before.updated_at, abs=0.01)
    assert probe.get(task_id, "alice", time.time()).follower is None  # nothing written
