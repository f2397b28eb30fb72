"""A durable task that asks its caller a question: input_required, answered from any session or process.

The example tool `deduplicate_csv` finds duplicate rows, asks whether to write a clean copy
(`ctx.elicit`), then writes it. Real server processes on loopback, real mcp clients of both eras.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult
from tests_support import (
    CONTEXT,
    ServerProcess,
    client,
    raw_request,
    start_server,
    task_call,
    task_status_listener,
    tasks_extension,
)

pytestmark = pytest.mark.anyio
BOB = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "bob"}
TOOL = "deduplicate_csv"


def write_orders(path: Path) -> list[list[str]]:
    """1,000 distinct rows, 200 of them repeated later (with their row number in a note for `keep`)."""
    rows = [[f"order-{i}", ("north", "south")[i % 2], str(i % 50)] for i in range(1000)]
    repeated = rows + [rows[i] for i in range(0, 1000, 5)]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["order", "region", "amount"])
        writer.writerows(repeated)
    return repeated


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("input")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[ServerProcess]:
    proc = start_server(data_dir)
    yield proc
    proc.stop()


def question_events(data_dir: Path, task_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "results.sqlite3") as db:
        return db.execute(
            "SELECT client_token, text FROM events WHERE client_token LIKE ?", (f"{task_id}-input-%",)
        ).fetchall()


def modern(url: str, headers: dict[str, str] = CONTEXT) -> Any:
    return client(url, headers, mode="auto", extensions=[tasks_extension()])


async def until_status(session: Any, task_id: str, *statuses: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while (state := await task_call(session, "tasks/get", task_id))["status"] not in statuses:
            await anyio.sleep(0.05)
    return state


async def asked(session: Any, data_dir: Path, path: str) -> tuple[str, dict[str, Any]]:
    """Write `path`, start deduplicate_csv on it as a task, wait for its question: (task id, tasks/get state)."""
    write_orders(data_dir / path)
    handle = await session.session.call_tool(TOOL, {"path": path}, allow_claimed=True)
    assert handle.result_type == "task"
    return handle.task_id, await until_status(session, handle.task_id, "input_required")


async def test_the_question_waits_in_the_task_and_an_answer_from_another_session_finishes_it(
    server: ServerProcess, data_dir: Path
) -> None:
    rows = write_orders(data_dir / "orders.csv")
    async with modern(server.mcp_url) as session:
        handle = await session.session.call_tool(TOOL, {"path": "orders.csv", "chunk_rows": 100}, allow_claimed=True)
        assert handle.result_type == "task"
        asked = await until_status(session, handle.task_id, "input_required", "completed", "failed")
    assert asked["status"] == "input_required", asked
    [(key, question)] = asked["inputRequests"].items()
    assert question["method"] == "elicitation/create" and question["params"]["mode"] == "form"
    assert "200 duplicate rows out of 1200" in question["params"]["message"]
    assert set(question["params"]["requestedSchema"]["properties"]) == {"write_copy", "keep"}
    assert server.ping()["status"] == "HealthyBusy"  # the work holds its lease while it waits
    # The question also went to the caller's memory session: a returning user's agent sees it waiting.
    [(token, text)] = question_events(data_dir, handle.task_id)
    assert token == f"{handle.task_id}-input-{key}"
    assert "is waiting for your answer" in text and "200 duplicate rows out of 1200" in text

    # A new connection (as after a disconnect) answers. Answers to keys not open are ignored (SEP-2663);
    # a malformed answer to an open one is refused with the field named.
    async with modern(server.mcp_url) as later:
        ignored = await task_call(later, "tasks/update", handle.task_id, inputResponses={"nope": {"action": "accept"}})
        assert ignored["resultType"] == "complete"
        assert (await task_call(later, "tasks/get", handle.task_id))["inputRequests"] == asked["inputRequests"]
        with pytest.raises(MCPError, match=re.escape(f"inputResponses.{key}: expected")):
            await task_call(later, "tasks/update", handle.task_id, inputResponses={key: {"action": "maybe"}})
        async with modern(server.mcp_url, BOB) as bob:  # another actor's task does not exist for bob
            with pytest.raises(MCPError, match="not found"):
                await task_call(bob, "tasks/update", handle.task_id, inputResponses={key: {"action": "accept"}})
        answer = {"action": "accept", "content": {"write_copy": True, "keep": "last"}}
        ack = await task_call(later, "tasks/update", handle.task_id, inputResponses={key: answer})
        assert ack["resultType"] == "complete" and set(ack) <= {"resultType", "_meta"}  # no task state
        done = await until_status(later, handle.task_id, "completed", "failed")
        # The key was answered: a second answer to it is ignored, and the result stands.
        again = await task_call(later, "tasks/update", handle.task_id, inputResponses={key: answer})
        assert again["resultType"] == "complete"
    assert done["status"] == "completed", done
    report = done["result"]["structuredContent"]
    assert report == {
        "path": "orders.csv",
        "rows": 1200,
        "duplicate_rows": 200,
        "outcome": "written",
        "written": "orders.dedup.csv",
        "rows_written": 1000,
    }
    with (data_dir / "orders.dedup.csv").open(newline="") as copy:
        written = list(csv.reader(copy))
    # keep="last": each repeated row stays at its last position, every row once.
    last_index = {tuple(r): i for i, r in enumerate(rows)}
    assert written[0] == ["order", "region", "amount"]
    assert written[1:] == [r for i, r in enumerate(rows) if last_index[tuple(r)] == i]
    assert len({tuple(r) for r in written[1:]}) == 1000


async def test_an_answer_sent_to_another_server_process_reaches_the_waiting_work(
    server: ServerProcess, data_dir: Path, tmp_path: Path
) -> None:
    write_orders(data_dir / "second.csv")
    other = start_server(data_dir)  # same task store, another process
    try:
        async with modern(server.mcp_url) as session:
            handle = await session.session.call_tool(TOOL, {"path": "second.csv"}, allow_claimed=True)
        async with modern(other.mcp_url) as elsewhere:
            asked = await until_status(elsewhere, handle.task_id, "input_required")
            [key] = asked["inputRequests"]
            no = {"action": "accept", "content": {"write_copy": False}}
            await task_call(elsewhere, "tasks/update", handle.task_id, inputResponses={key: no})
            done = await until_status(elsewhere, handle.task_id, "completed", "failed")
    finally:
        other.stop()
    assert done["result"]["structuredContent"]["outcome"] == "not requested"
    assert not (data_dir / "second.dedup.csv").exists()


async def test_an_answer_that_does_not_fit_is_asked_again_naming_the_problem(
    server: ServerProcess, data_dir: Path
) -> None:
    async with modern(server.mcp_url) as session:
        task_id, first = await asked(session, data_dir, "third.csv")
        [key] = first["inputRequests"]
        huge = {"action": "accept", "content": {"note": "x" * 70_000}}
        with pytest.raises(MCPError, match=re.escape(f"inputResponses.{key}.content: expected at most 65536 bytes")):
            await task_call(session, "tasks/update", task_id, inputResponses={key: huge})
        bad = {"action": "accept", "content": {"write_copy": True, "keep": "middle"}}
        await task_call(session, "tasks/update", task_id, inputResponses={key: bad})
        with anyio.fail_after(30):
            while True:
                again = await until_status(session, task_id, "input_required")
                if key not in again["inputRequests"]:
                    break
                await anyio.sleep(0.05)
        [(key2, question)] = again["inputRequests"].items()
        assert question["params"]["message"].startswith("That answer did not fit (keep:")
        await task_call(session, "tasks/update", task_id, inputResponses={key2: {"action": "decline"}})
        done = await until_status(session, task_id, "completed", "failed")
    assert done["result"]["structuredContent"]["outcome"] == "declined"


async def test_cancelling_a_task_that_waits_for_input_ends_it_without_writing(
    server: ServerProcess, data_dir: Path
) -> None:
    async with modern(server.mcp_url) as session:
        task_id, _ = await asked(session, data_dir, "fourth.csv")
        await task_call(session, "tasks/cancel", task_id)
        done = await until_status(session, task_id, "cancelled", "completed", "failed")
    assert done["status"] == "cancelled" and "inputRequests" not in done
    assert not (data_dir / "fourth.dedup.csv").exists()


async def test_plain_tools_show_the_question_and_take_the_answer(server: ServerProcess, data_dir: Path) -> None:
    write_orders(data_dir / "fifth.csv")
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        started = await session.call_tool("start_deduplicate_csv", {"path": "fifth.csv"})
        task_id = started.structured_content["task_id"]
        with anyio.fail_after(60):
            while (status := (await session.call_tool("check_task_status", {"task_id": task_id})).structured_content)[
                "status"
            ] != "input_required":
                await anyio.sleep(0.05)
        [(_, question)] = status["questions"].items()
        assert "200 duplicate rows" in question["message"]
        assert question["requested_schema"]["properties"]["keep"]["enum"] == ["first", "last"]
        early = await session.call_tool("get_task_result", {"task_id": task_id})
        assert early.is_error and "waiting for input" in early.content[0].text
        wrong = await session.call_tool("answer_task", {"task_id": task_id, "question_id": "other"})
        assert wrong.is_error and "question_id='other': not an open question" in wrong.content[0].text
        answered = await session.call_tool("answer_task", {"task_id": task_id, "content": {"write_copy": True}})
        assert not answered.is_error, answered.content
        with anyio.fail_after(60):
            while (result := await session.call_tool("get_task_result", {"task_id": task_id})).is_error:
                await anyio.sleep(0.05)
    assert result.structured_content["outcome"] == "written"
    assert result.structured_content["rows_written"] == 1000


async def test_a_2025_client_gets_the_question_over_its_session_while_it_waits_for_the_result(
    server: ServerProcess, data_dir: Path
) -> None:
    write_orders(data_dir / "sixth.csv")
    asked: list[Any] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        asked.append(params)
        return ElicitResult(action="accept", content={"write_copy": True, "keep": "first"})

    statuses: list[dict[str, Any]] = []
    async with client(
        server.mcp_url,
        CONTEXT,
        mode="legacy",
        elicitation_callback=person,
        extensions=[task_status_listener(statuses)],
    ) as session:
        created = await raw_request(
            session, "tools/call", {"name": TOOL, "arguments": {"path": "sixth.csv"}, "task": {"ttl": 60_000}}
        )
        task_id = created["task"]["taskId"]
        with anyio.fail_after(60):
            while (await raw_request(session, "tasks/get", {"taskId": task_id}))["status"] != "input_required":
                await anyio.sleep(0.05)
        # SEP-1686: on input_required the requestor calls tasks/result; the question arrives over the session.
        result = await raw_request(session, "tasks/result", {"taskId": task_id})
    assert len(asked) == 1 and "200 duplicate rows" in asked[0].message
    # Each change was pushed to the session that created the task: asked, answered, done.
    with anyio.fail_after(10):
        while not statuses or statuses[-1]["status"] != "completed":
            await anyio.sleep(0.02)
    assert [s["status"] for s in statuses if s["taskId"] == task_id] == ["input_required", "working", "completed"]
    assert result["structuredContent"]["outcome"] == "written"
    with (data_dir / "sixth.dedup.csv").open(newline="") as copy:
        assert sum(1 for _ in copy) == 1001


async def test_a_2025_client_that_cannot_be_asked_waits_for_an_answer_given_elsewhere(
    server: ServerProcess, data_dir: Path
) -> None:
    write_orders(data_dir / "seventh.csv")
    async with client(server.mcp_url, CONTEXT, mode="legacy") as waiting:  # no elicitation capability
        created = await raw_request(
            waiting, "tools/call", {"name": TOOL, "arguments": {"path": "seventh.csv"}, "task": {"ttl": 60_000}}
        )
        task_id = created["task"]["taskId"]
        result: dict[str, Any] = {}

        async def wait_for_result() -> None:
            result.update(await raw_request(waiting, "tasks/result", {"taskId": task_id}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_result)
            async with client(server.mcp_url, CONTEXT, mode="legacy") as other:
                with anyio.fail_after(60):
                    while (await raw_request(other, "tasks/get", {"taskId": task_id}))["status"] != "input_required":
                        await anyio.sleep(0.05)
                answered = await other.call_tool("answer_task", {"task_id": task_id, "action": "decline"})
                assert not answered.is_error, answered.content
    assert result["structuredContent"]["outcome"] == "declined"
