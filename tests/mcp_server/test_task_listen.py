"""Progress on 2026-07-28 tasks: `statusMessage`, and `notifications/tasks` over `subscriptions/listen` (SEP-2663),
received by the real mcp 2.3.0 client over HTTP on loopback."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from listen_support import SUBSCRIPTION_ID, TERMINAL, Stream, listen, listening_client, progress_of
from mcp_server.engine.outcomes import TaskListener
from mcp_server.protocol.listen import TaskFeed
from mcp_server.tooling import TaskContext, tool
from pydantic import BaseModel
from tests_support import CONTEXT, InProcessServer, client, start_server, task_call, tasks_extension, test_settings

pytestmark = pytest.mark.anyio
BOB = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "bob"}
# Steps the test lets a gated tool take, and when the tool reported each one (this process's clock).
GATES: dict[str, threading.Semaphore] = {}
REPORTED: dict[str, list[tuple[float, float]]] = {}


async def _pass(label: str) -> None:
    gate = GATES.setdefault(label, threading.Semaphore(0))
    while not gate.acquire(blocking=False):  # the test releases one step at a time
        await anyio.sleep(0.005)


def release(label: str, steps: int = 1) -> None:
    GATES.setdefault(label, threading.Semaphore(0)).release(steps)


@tool(mode="task", max_duration_seconds=120)
async def stepper(label: str, steps: int, ctx: TaskContext) -> dict[str, int]:
    """Takes one step each time the test lets it; reports progress without a message."""
    for step in range(1, steps + 1):
        await _pass(label)
        REPORTED.setdefault(label, []).append((step, time.monotonic()))
        await ctx.report_progress(step, steps)
    return {"steps": steps}


@tool(mode="task", max_duration_seconds=120)
async def chatty(reports: int, ctx: TaskContext) -> int:
    """Reports progress far more often than anyone should be told."""
    for n in range(1, reports + 1):
        await ctx.report_progress(n, reports, f"item {n} of {reports}")
        await anyio.sleep(0.005)
    return reports


class Go(BaseModel):
    go: bool


@tool(mode="task", max_duration_seconds=120)
async def asks(label: str, ctx: TaskContext) -> bool:
    """Reports, waits for the test, asks a question, reports again."""
    await ctx.report_progress(1, 2, "before the question")
    await _pass(label)
    answer = await ctx.elicit("Go on?", Go)
    await ctx.report_progress(2, 2, "after the question")
    return answer.action == "accept"


SPECS = [stepper, chatty, asks]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    settings = test_settings(tmp_path, TASK_NOTIFY_MIN_INTERVAL_SECONDS="0.2", TASK_POLL_INTERVAL_MS="100")
    with InProcessServer(settings, SPECS) as srv:
        yield srv


def feed_of(server: InProcessServer) -> TaskFeed:
    listeners: list[TaskListener] = server.assembled.engine.outcomes.listeners
    return next(listener for listener in listeners if isinstance(listener, TaskFeed))


async def start(session: Any, name: str, arguments: dict[str, Any]) -> str:
    handle = await session.session.call_tool(name, arguments, allow_claimed=True)
    assert handle.result_type == "task", handle
    return str(handle.task_id)


async def test_progress_reaches_the_listener_live_then_the_terminal_task_and_the_stream_ends(
    server: InProcessServer,
) -> None:
    stream, steps = Stream(), 5
    async with listening_client(server.mcp_url, CONTEXT, stream) as session, anyio.create_task_group() as tg:
        task_id = await start(session, "stepper", {"label": "live", "steps": steps})
        tg.start_soon(listen, session, stream, {"taskIds": [task_id]})
        ack = await stream.until(lambda: stream.acks, "the acknowledgement")
        assert ack[0]["notifications"] == {"taskIds": [task_id]}
        first = await stream.until(lambda: stream.of(task_id), "the current state, right after the ack")
        assert first[0]["status"] == "working" and "statusMessage" not in first[0]  # no progress yet
        assert first[0]["_meta"][SUBSCRIPTION_ID] == ack[0]["_meta"][SUBSCRIPTION_ID]
        for step in range(1, steps):  # each step is let go only once the previous one was received
            release("live")
            await stream.until(
                lambda step=step: any(progress_of(f) == step for f in stream.of(task_id)), f"progress {step}"
            )
            # tasks/get says it too, once the lease loop wrote the report (TASK_PROGRESS_WRITE_SECONDS=0).
            with anyio.fail_after(10):
                while (await task_call(session, "tasks/get", task_id)).get("statusMessage") != f"{step}/{steps}":
                    await anyio.sleep(0.02)
        assert not stream.ended
        release("live")
        await stream.until(lambda: stream.ended, "the stream's graceful end after the terminal frame")
    frames = stream.of(task_id)
    working = [f for f in frames if f["status"] == "working" and progress_of(f) is not None]
    assert [progress_of(f) for f in working] == list(range(1, steps))
    assert [f["statusMessage"] for f in working] == [f"{n}/{steps}" for n in range(1, steps)]
    assert all(f["_meta"]["io.agentkit/progress"]["total"] == steps for f in working)
    last = frames[-1]
    assert last["status"] == "completed" and last["result"]["structuredContent"] == {"steps": steps}
    assert stream.results and stream.results[0]["_meta"][SUBSCRIPTION_ID] == ack[0]["_meta"][SUBSCRIPTION_ID]
    assert feed_of(server).following == 0  # nothing kept once the stream ended


async def test_tasks_get_says_the_progress_in_status_message_and_meta(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        task_id = await start(session, "stepper", {"label": "get", "steps": 4})
        release("get")
        with anyio.fail_after(10):
            while (state := await task_call(session, "tasks/get", task_id)).get("statusMessage") != "1/4":
                await anyio.sleep(0.02)
        assert state["_meta"]["io.agentkit/progress"] == {"progress": 1, "total": 4}
        assert state["_meta"]["io.agentkit/attempt"] == 1
        release("get", 3)


async def test_latency_from_a_report_to_the_client_without_coalescing(tmp_path: Path) -> None:
    stream, steps = Stream(), 20
    with InProcessServer(test_settings(tmp_path, TASK_NOTIFY_MIN_INTERVAL_SECONDS="0"), SPECS) as srv:
        async with listening_client(srv.mcp_url, CONTEXT, stream) as session, anyio.create_task_group() as tg:
            task_id = await start(session, "stepper", {"label": "latency", "steps": steps})
            tg.start_soon(listen, session, stream, {"taskIds": [task_id]})
            await stream.until(lambda: stream.of(task_id), "the current state")
            for step in range(1, steps + 1):
                release("latency")
                await stream.until(lambda step=step: any(progress_of(f) == step for f in stream.of(task_id)), "a step")
            await stream.until(lambda: stream.ended, "the end of the stream")
    received = {progress_of(f): at for at, f in stream.frames if f["status"] == "working"}
    latencies = sorted(received[step] - at for step, at in REPORTED["latency"] if step in received)
    assert len(latencies) >= steps - 1  # the last report may ride the terminal frame instead
    print(
        f"\nreport -> mcp client: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms over {len(latencies)} reports"
    )
    assert latencies[-1] < 2.0


async def test_progress_is_coalesced_to_one_notification_per_interval(server: InProcessServer) -> None:
    stream, reports = Stream(), 300
    async with listening_client(server.mcp_url, CONTEXT, stream) as session, anyio.create_task_group() as tg:
        task_id = await start(session, "chatty", {"reports": reports})
        began = time.monotonic()
        tg.start_soon(listen, session, stream, {"taskIds": [task_id]})
        await stream.until(lambda: stream.ended, "the end of the stream", timeout=60)
        took = time.monotonic() - began
    frames = stream.of(task_id)
    values = [progress_of(f) for f in frames if f["status"] == "working" and progress_of(f) is not None]
    assert values == sorted(values) and len(set(values)) == len(values)  # only ever forward
    # 300 reports in `took` seconds: at most one per 0.2 s interval, plus the first and the terminal frame.
    assert 2 <= len(frames) <= took / 0.2 + 3, (len(frames), took)
    print(f"\n{reports} reports in {took:.2f} s -> {len(frames)} notifications (one per 0.2 s at most)")
    assert frames[-1]["status"] == "completed" and frames[-1]["statusMessage"] == f"item {reports} of {reports}"


async def test_status_changes_are_never_held_and_input_required_carries_its_questions(tmp_path: Path) -> None:
    # Progress is held for 30 s here: only status changes can reach the client within the test's timeouts.
    settings = test_settings(tmp_path, TASK_NOTIFY_MIN_INTERVAL_SECONDS="30")
    stream = Stream()
    with InProcessServer(settings, SPECS) as srv:
        async with listening_client(srv.mcp_url, CONTEXT, stream) as session, anyio.create_task_group() as tg:
            task_id = await start(session, "asks", {"label": "asks"})
            tg.start_soon(listen, session, stream, {"taskIds": [task_id]})
            await stream.until(lambda: stream.of(task_id), "the current state")
            release("asks")
            asked = await stream.until(
                lambda: [f for f in stream.of(task_id) if f["status"] == "input_required"], "input_required", 10
            )
            (key,) = asked[0]["inputRequests"]
            await task_call(
                session, "tasks/update", task_id, inputResponses={key: {"action": "accept", "content": {"go": True}}}
            )
            await stream.until(lambda: stream.ended, "the end of the stream", timeout=10)
    statuses = [f["status"] for f in stream.of(task_id)]
    assert statuses == ["working", "input_required", "working", "completed"], stream.summary()
    assert stream.of(task_id)[-1]["result"]["structuredContent"] == {"result": True}


async def test_listen_for_tasks_without_the_tasks_extension_is_refused(server: InProcessServer) -> None:
    stream = Stream()
    async with listening_client(server.mcp_url, CONTEXT, stream, declare_tasks=False) as session:
        await listen(session, stream, {"taskIds": ["any-task"]})
    (error,) = stream.errors
    assert error.error.code == -32021
    assert error.error.data == {"requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}
    assert not stream.acks and not stream.frames


async def test_listen_for_tasks_without_a_caller_is_refused_naming_the_header(server: InProcessServer) -> None:
    stream = Stream()
    async with listening_client(server.mcp_url, {}, stream) as session:
        await listen(session, stream, {"taskIds": ["any-task"]})
    (error,) = stream.errors
    assert error.error.code == -32600 and "Actor-Id" in error.error.message
    assert not stream.acks


@pytest.mark.parametrize(
    ("task_ids", "message"),
    [
        ([f"task-{i}" for i in range(101)], "notifications.taskIds: expected at most 100 task ids per stream, got 101"),
        ("task-1", "notifications.taskIds: expected a list of task id strings"),
        (["ok", 7], "notifications.taskIds[1]: expected a task id (1..256 characters)"),
    ],
)
async def test_bad_task_ids_are_refused_naming_the_field(server: InProcessServer, task_ids: Any, message: str) -> None:
    stream = Stream()
    async with listening_client(server.mcp_url, CONTEXT, stream) as session:
        await listen(session, stream, {"taskIds": task_ids})
    (error,) = stream.errors
    assert error.error.code == -32602 and error.error.message == message
    assert not stream.acks


async def test_another_actors_task_is_not_followed(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as alice:
        alices = await start(alice, "stepper", {"label": "alice", "steps": 1})
    stream = Stream()
    async with listening_client(server.mcp_url, BOB, stream) as bob, anyio.create_task_group() as tg:
        bobs = await start(bob, "stepper", {"label": "bob", "steps": 1})
        tg.start_soon(listen, bob, stream, {"taskIds": [alices, bobs, "no-such-task"]})
        ack = await stream.until(lambda: stream.acks, "the acknowledgement")
        assert ack[0]["notifications"] == {"taskIds": [bobs]}  # alice's reads as unknown: not honoured
        release("alice")  # alice's task ends while bob listens: nothing of it reaches bob
        release("bob")
        await stream.until(lambda: stream.ended, "the end of bob's stream")
    assert {f["taskId"] for _, f in stream.frames} == {bobs}
    assert stream.of(bobs)[-1]["status"] == "completed"


async def test_without_task_ids_the_sdks_listen_is_served_and_both_kinds_share_a_stream(
    server: InProcessServer,
) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        async with session.listen(tools_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed is True
            assert subscription.honored.model_extra in (None, {})
    stream = Stream()
    async with listening_client(server.mcp_url, CONTEXT, stream) as session, anyio.create_task_group() as tg:
        task_id = await start(session, "stepper", {"label": "both", "steps": 1})
        tg.start_soon(listen, session, stream, {"taskIds": [task_id], "toolsListChanged": True})
        ack = await stream.until(lambda: stream.acks, "the acknowledgement")
        assert ack[0]["notifications"] == {"toolsListChanged": True, "taskIds": [task_id]}
        release("both")
        await stream.until(lambda: [f for f in stream.of(task_id) if f["status"] in TERMINAL], "the terminal frame")
        await task_call(session, "tasks/get", task_id)  # a round trip later, the stream is still open
        assert not stream.ended  # tools/list_changed was asked for too: the stream outlives the task
        assert feed_of(server).following == 1
        tg.cancel_scope.cancel()  # the client goes away: the stream just ends
    with anyio.fail_after(10):
        while feed_of(server).following:
            await anyio.sleep(0.02)


async def test_a_task_running_in_another_process_is_followed_through_the_store(tmp_path: Path) -> None:
    env = {"TASK_NOTIFY_MIN_INTERVAL_SECONDS": "0.2", "TASK_POLL_INTERVAL_MS": "100"}
    runner, watcher = start_server(tmp_path, env), start_server(tmp_path, env)  # two processes, one store
    stream = Stream()
    try:
        async with client(runner.mcp_url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            args = {"model_name": "far", "epochs": 12, "seconds_per_epoch": 0.3}
            task_id = await start(session, "model_training", args)
        async with listening_client(watcher.mcp_url, CONTEXT, stream) as session, anyio.create_task_group() as tg:
            tg.start_soon(listen, session, stream, {"taskIds": [task_id]})
            ack = await stream.until(lambda: stream.acks, "the acknowledgement")
            assert ack[0]["notifications"] == {"taskIds": [task_id]}
            await stream.until(lambda: stream.ended, "the end of the stream", timeout=60)
    finally:
        runner.stop()
        watcher.stop()
    frames = stream.of(task_id)
    values = [progress_of(f) for f in frames if f["status"] == "working" and progress_of(f) is not None]
    assert len(set(values)) >= 3 and values == sorted(values), stream.summary()
    assert all(
        f["statusMessage"].startswith(f"epoch {int(v)}/12")
        for f, v in zip(
            [f for f in frames if f["status"] == "working" and progress_of(f) is not None], values, strict=True
        )
    )
    assert frames[-1]["status"] == "completed" and frames[-1]["result"]["structuredContent"]["epochs"] == 12
    # From the runner's store write (lastUpdatedAt) to the client, through the watcher's store polls.
    lags = sorted(
        at - datetime.fromisoformat(f["lastUpdatedAt"]).timestamp()
        for at, (_, f) in zip(stream.received_at, stream.frames, strict=True)
        if f["status"] == "working" and progress_of(f) is not None
    )
    print(
        f"\nstore write -> client via polling: median {statistics.median(lags) * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
    )


def record(**fields: Any) -> Any:
    from mcp_server.store.base import TaskRecord

    now = time.time()
    base = {"task_id": "t-1", "owner": "alice", "session_id": "s", "memory_id": None, "tool": "stepper"}
    times = {"created_at": now, "updated_at": now, "ttl_seconds": 60, "expires_at": 0}
    return TaskRecord(**{**base, **times, "arguments": {}, "status": "working", **fields})


@pytest.mark.parametrize(
    ("fields", "live", "message", "meta"),
    [
        ({}, None, None, None),
        ({"progress": 40.0, "total": 100.0}, None, "40/100", {"progress": 40.0, "total": 100.0}),
        ({"progress": 40.0}, None, "40", {"progress": 40.0, "total": None}),
        (
            {"progress": 2.5, "total": 10.0, "status_message": "epoch 2"},
            None,
            "epoch 2",
            {"progress": 2.5, "total": 10.0},
        ),
        ({"progress": 1.0, "total": 3.0}, (2.0, 3.0, None), "2/3", {"progress": 2.0, "total": 3.0}),
        (
            {"status": "completed", "progress": 3.0, "total": 3.0},
            (2.0, 3.0, None),
            None,
            {"progress": 3.0, "total": 3.0},
        ),
    ],
)
async def test_a_detailed_task_carries_its_progress_as_status_message_and_meta(
    fields: dict[str, Any], live: Any, message: str | None, meta: dict[str, Any] | None
) -> None:
    from mcp_server.protocol import tasks_2026

    wire = tasks_2026.get(record(**fields), 100, live)
    assert wire.get("statusMessage") == message
    assert wire.get("_meta", {}).get(tasks_2026.PROGRESS_META) == meta
