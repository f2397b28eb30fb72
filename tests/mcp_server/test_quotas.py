"""Per-actor quotas hold in the store itself (so across microVMs): running tasks, creations a minute, result bytes.

Store-level tests run the same contract on SQLite and DynamoDB (moto) with explicit clocks; the
end-to-end test runs two server processes on one store, as two microVMs share the task table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from mcp_server import constants as c
from mcp_server.store import TaskStore
from mcp_server.store.quotas import Quota, QuotaExceeded, result_size
from test_store_contract import LEASE, NOW, new_task, store  # noqa: F401 - the two-store fixture
from tests_support import CONTEXT, client, raw_request, start_server, tasks_extension

QUOTA = Quota(running_tasks=3, tasks_per_minute=5, result_bytes_per_day=1_000)
MINUTE = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the start of a minute


def test_running_tasks_are_limited_and_a_refusal_writes_nothing(store: TaskStore) -> None:  # noqa: F811
    for _ in range(3):
        store.create(new_task(), MINUTE, LEASE, QUOTA)
    with pytest.raises(QuotaExceeded) as refused:
        store.create(new_task(request_key="k-refused"), MINUTE + 1, LEASE, QUOTA)
    assert (refused.value.limit, refused.value.current, refused.value.maximum) == ("running_tasks", 3, 3)
    assert "running_tasks exceeded: 3 of 3" in str(refused.value)
    assert len(store.list_by_owner("alice", MINUTE + 1)) == 3  # nothing half-created
    # The request key was not taken either: the same key works once there is room.
    running = store.list_by_owner("alice", MINUTE + 1)[0]
    store.finish(running.task_id, "w1", c.STATUS_COMPLETED, MINUTE + 2, result={"content": []}, publish_after=0)
    again, created = store.create(new_task(request_key="k-refused"), MINUTE + 3, LEASE, QUOTA)
    assert created and again.status == c.STATUS_WORKING
    # Another actor has a quota of their own.
    store.create(new_task(owner="bob"), MINUTE + 3, LEASE, QUOTA)


def test_a_cancelled_task_frees_its_running_slot(store: TaskStore) -> None:  # noqa: F811
    tasks = [store.create(new_task(), MINUTE, LEASE, QUOTA)[0] for _ in range(3)]
    store.cancel(tasks[0].task_id, "alice", MINUTE + 1, "cancelled", publish_after=0)
    store.create(new_task(), MINUTE + 2, LEASE, QUOTA)


def test_creations_per_minute_are_limited_until_the_next_minute(store: TaskStore) -> None:  # noqa: F811
    quota = Quota(running_tasks=100, tasks_per_minute=2, result_bytes_per_day=1_000)
    store.create(new_task(), MINUTE + 1, LEASE, quota)
    store.create(new_task(), MINUTE + 2, LEASE, quota)
    with pytest.raises(QuotaExceeded) as refused:
        store.create(new_task(), MINUTE + 50, LEASE, quota)
    assert refused.value.limit == "tasks_per_minute" and refused.value.current == 2
    assert refused.value.retry_after_seconds == 10  # the next minute
    store.create(new_task(), MINUTE + 61, LEASE, quota)


def test_result_bytes_are_counted_per_day_and_an_oversized_result_is_not_kept(store: TaskStore) -> None:  # noqa: F811
    big = {"content": [{"type": "text", "text": "x" * 600}]}
    first = store.create(new_task(), MINUTE, LEASE, QUOTA)[0]
    done = store.finish(first.task_id, "w1", c.STATUS_COMPLETED, MINUTE + 1, result=big, publish_after=0, quota=QUOTA)
    assert done.result == big
    second = store.create(new_task(), MINUTE + 2, LEASE, QUOTA)[0]
    with pytest.raises(QuotaExceeded) as refused:
        store.finish(second.task_id, "w1", c.STATUS_COMPLETED, MINUTE + 3, result=big, publish_after=0, quota=QUOTA)
    assert refused.value.limit == "result_bytes_per_day" and refused.value.current == result_size(big)
    still = store.get(second.task_id, "alice", MINUTE + 3)
    assert still is not None and still.status == c.STATUS_WORKING and still.result is None  # nothing written


@pytest.mark.anyio
async def test_two_servers_on_one_store_enforce_one_running_quota(tmp_path: Path) -> None:
    env = {"QUOTA_RUNNING_TASKS": "2"}
    first, second = start_server(tmp_path, env), start_server(tmp_path, env)
    training = {"model_name": "m", "epochs": 400, "seconds_per_epoch": 0.05}
    try:
        for server in (first, second):
            async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
                started = await session.call_tool("start_model_training", training)
                assert not started.is_error, started.content
        async with client(first.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as modern:
            with pytest.raises(MCPError) as refused:
                await modern.session.call_tool("model_training", training, allow_claimed=True)
        assert refused.value.error.code == -32029
        assert refused.value.error.data == {
            "limit": "running_tasks",
            "maximum": 2,
            "current": 2,
            "retryAfterSeconds": 30,
        }
        async with client(second.mcp_url, CONTEXT, mode="legacy") as session:
            plain = await session.call_tool("start_model_training", training)
            assert plain.is_error and "running_tasks exceeded: 2 of 2" in plain.content[0].text
            listed = await raw_request(session, "tasks/list", {})
            assert len(listed["tasks"]) == 2
            for task in listed["tasks"]:
                await session.call_tool("cancel_task", {"task_id": task["taskId"]})
    finally:
        first.stop()
        second.stop()
