"""MCP 2026-07-28 done right: one era-neutral outcome mapping, the extension's gates and headers,
several questions at once, tools that gather input in the call and then run as tasks, and a server
that serves exactly the tools it is given. Real mcp 2.3.0 clients over HTTP on loopback.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.shared.exceptions import MCPError
from mcp_server.engine.catalog import RESOLVED_KEY, ToolCatalog
from mcp_server.tooling import TaskContext, tool
from mcp_types import INTERNAL_ERROR, ElicitResult
from pydantic import BaseModel, Field
from tests_support import CONTEXT, InProcessServer, client, raw_request, task_call, tasks_extension, test_settings

pytestmark = pytest.mark.anyio
TASKS = "io.modelcontextprotocol/tasks"


class Owner(BaseModel):
    name: str = Field(description="who owns it")


class Confirm(BaseModel):
    confirm: bool


class Note(BaseModel):
    name: str = Field(description="a name for the note (shares its field name with Owner)")


@tool(mode="either", max_duration_seconds=60)
async def broken(ctx: TaskContext, how: str = "tool") -> str:
    """Ends in the tool's own error, or (how='protocol') a protocol error."""
    await ctx.checkpoint()
    if how == "protocol":
        raise MCPError(code=INTERNAL_ERROR, message="the backend refused the job")
    raise ToolError("the input file is empty")


@tool(mode="task", max_duration_seconds=60)
async def only_task(ctx: TaskContext) -> str:
    """Runs only as a task."""
    return "ran"


@tool(mode="either", max_duration_seconds=120)
async def two_questions(ctx: TaskContext) -> str:
    """Asks two questions in one step."""
    answers = await ctx.elicit_many({"owner": ("Who owns it?", Owner), "confirm": ("Delete it?", Confirm)})
    owner, confirm = answers["owner"], answers["confirm"]
    assert owner.action == "accept" and confirm.action == "accept"
    return f"{owner.data.name} {'deletes' if confirm.data.confirm else 'keeps'} it"


@tool(mode="request", max_duration_seconds=60)
async def clashing_questions(ctx: TaskContext) -> str:
    """Two questions whose forms share a field name, asked in the request."""
    answers = await ctx.elicit_many({"owner": ("Who owns it?", Owner), "note": ("Name the note", Note)})
    return f"{answers['owner'].data.name} / {answers['note'].data.name}"


def ask_owner() -> Elicit[Owner]:
    return Elicit("Who owns the report?", Owner)


@tool(mode="either", max_duration_seconds=60)
async def report_for(ctx: TaskContext, owner: Annotated[Owner, Resolve(ask_owner)], pages: int = 1) -> str:
    """Gathers the owner in the call, then writes the report (as a task when the client can take one)."""
    await ctx.report_progress(1, 1, "written")
    return f"{pages} page(s) for {owner.name} (task {ctx.task_id is not None})"


SPECS = [broken, only_task, two_questions, clashing_questions, report_for]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    with InProcessServer(test_settings(tmp_path_factory.mktemp("tasks2026")), SPECS) as served:
        yield served


def modern(url: str, **kwargs: Any) -> Any:
    return client(url, CONTEXT, mode="auto", extensions=[tasks_extension()], **kwargs)


async def until(session: Any, task_id: str, *statuses: str) -> dict[str, Any]:
    with anyio.fail_after(30):
        while (state := await task_call(session, "tasks/get", task_id))["status"] not in statuses:
            await anyio.sleep(0.02)
    return state


async def start(session: Any, name: str, arguments: dict[str, Any]) -> str:
    handle = await session.session.call_tool(name, arguments, allow_claimed=True)
    assert handle.result_type == "task", handle
    return handle.task_id


# ---------------------------------------------------------------- one mapping, both eras
async def test_a_tool_error_completes_with_is_error_and_a_protocol_error_fails(server: InProcessServer) -> None:
    async with modern(server.mcp_url) as session:
        tool_error = await until(session, await start(session, "broken", {}), "completed", "failed")
        protocol = await until(session, await start(session, "broken", {"how": "protocol"}), "completed", "failed")
    assert tool_error["status"] == "completed" and "error" not in tool_error
    assert tool_error["result"]["isError"] is True
    assert tool_error["result"]["content"][0]["text"] == "broken failed: the input file is empty"
    assert protocol["status"] == "failed" and "result" not in protocol
    assert protocol["error"] == {"code": INTERNAL_ERROR, "message": "the backend refused the job"}

    async with client(server.mcp_url, CONTEXT, mode="legacy") as legacy:  # 2025-11-25: SEP-1686 and plain tools
        created = await raw_request(legacy, "tools/call", {"name": "broken", "arguments": {}, "task": {"ttl": 60_000}})
        task_id = created["task"]["taskId"]
        result = await raw_request(legacy, "tasks/result", {"taskId": task_id})
        assert result["isError"] is True and "the input file is empty" in result["content"][0]["text"]
        assert (await raw_request(legacy, "tasks/get", {"taskId": task_id}))["status"] == "completed"
        status = (await legacy.call_tool("check_task_status", {"task_id": task_id})).structured_content
        assert (status["status"], status["tool_error"]) == ("completed", True)
        fetched = await legacy.call_tool("get_task_result", {"task_id": task_id})
        assert fetched.is_error and "the input file is empty" in fetched.content[0].text


async def test_in_the_request_a_protocol_error_is_a_json_rpc_error(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as legacy:
        with pytest.raises(MCPError) as raised:
            await legacy.call_tool("broken", {"how": "protocol"})
        assert raised.value.error.code == INTERNAL_ERROR
        plain = await legacy.call_tool("broken", {})
        assert plain.is_error and "the input file is empty" in plain.content[0].text


# ---------------------------------------------------------------- the extension's gates
async def test_without_the_extension_tasks_methods_and_task_only_tools_answer_32021(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="auto") as bare:  # 2026-07-28, no tasks extension
        for method, extra in (("tasks/get", {}), ("tasks/cancel", {}), ("tasks/update", {"inputResponses": {}})):
            with pytest.raises(MCPError) as refused:
                await task_call(bare, method, "any-task", **extra)
            assert refused.value.error.code == -32021, method
            assert refused.value.error.data == {"requiredCapabilities": {"extensions": {TASKS: {}}}}
        with pytest.raises(MCPError) as refused:
            await bare.call_tool("only_task", {})
        assert refused.value.error.code == -32021 and "only_task" in refused.value.error.message
        # A tool that may run either way runs in the request instead.
        ran = await bare.call_tool("broken", {})
        assert ran.is_error and "the input file is empty" in ran.content[0].text


def post_raw(port: int, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """One POST over a plain socket: header values exactly as given (httpx refuses surrounding spaces)."""
    data = json.dumps(body).encode()
    lines = [
        "POST /mcp HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        "MCP-Protocol-Version: 2026-07-28",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Content-Length: {len(data)}",
        "Connection: close",
        "",
        "",
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode() + data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def envelope(method: str, params: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "extensions": {TASKS: {}}},
    }
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": {**params, "_meta": meta}}


async def test_mcp_name_is_checked_on_tasks_methods_and_trimmed_everywhere(server: InProcessServer) -> None:
    async with modern(server.mcp_url) as session:
        task_id = await start(session, "two_questions", {})
    ctx = {k: v for k, v in CONTEXT.items() if not k.endswith("Memory-Id")}
    get = envelope("tasks/get", {"taskId": task_id})
    status, body = post_raw(server.port, get, {**ctx, "Mcp-Method": "tasks/get", "Mcp-Name": "someone-elses-task"})
    assert (status, body["error"]["code"]) == (400, -32020) and "taskId" in body["error"]["message"]
    status, body = post_raw(server.port, get, {**ctx, "Mcp-Method": "tasks/get"})
    assert (status, body["error"]["code"]) == (400, -32020) and "missing header Mcp-Name" in body["error"]["message"]
    # RFC 9110: surrounding whitespace is not part of a field value.
    status, body = post_raw(server.port, get, {**ctx, "Mcp-Method": "tasks/get", "Mcp-Name": f"  {task_id}\t "})
    assert status == 200 and body["result"]["taskId"] == task_id, body
    call = envelope("tools/call", {"name": "only_task", "arguments": {}})
    status, body = post_raw(server.port, call, {**ctx, "Mcp-Method": "tools/call", "Mcp-Name": "  only_task  "})
    assert status == 200 and body["result"]["resultType"] == "task", body
    cancel = envelope("tasks/cancel", {"taskId": task_id})
    status, _ = post_raw(server.port, cancel, {**ctx, "Mcp-Method": "tasks/cancel", "Mcp-Name": task_id})
    assert status == 200


def test_server_discover_names_the_server_in_meta(server: InProcessServer) -> None:
    status, body = post_raw(server.port, envelope("server/discover", {}), {"Mcp-Method": "server/discover"})
    assert status == 200, body
    result = body["result"]
    info = result["_meta"]["io.modelcontextprotocol/serverInfo"]
    assert info["name"] == "long_running_tasks" and info["version"]
    assert TASKS in result["capabilities"]["extensions"]


# ---------------------------------------------------------------- several questions at once
async def test_2026_sees_every_question_and_may_answer_them_one_at_a_time(server: InProcessServer) -> None:
    async with modern(server.mcp_url) as session:
        task_id = await start(session, "two_questions", {})
        asked = await until(session, task_id, "input_required")
        requests = asked["inputRequests"]
        assert len(requests) == 2
        by_label = {r["params"]["_meta"]["io.agentkit/question"]: key for key, r in requests.items()}
        assert set(by_label) == {"owner", "confirm"}
        assert requests[by_label["owner"]]["params"]["message"] == "Who owns it?"
        # Partial: the other question stays open; an unknown key alongside is ignored.
        partial = {by_label["owner"]: {"action": "accept", "content": {"name": "ana"}}, "nope": {"x": 1}}
        await task_call(session, "tasks/update", task_id, inputResponses=partial)
        waiting = await task_call(session, "tasks/get", task_id)
        assert waiting["status"] == "input_required" and list(waiting["inputRequests"]) == [by_label["confirm"]]
        await task_call(
            session,
            "tasks/update",
            task_id,
            inputResponses={by_label["confirm"]: {"action": "accept", "content": {"confirm": True}}},
        )
        done = await until(session, task_id, "completed", "failed")
    assert done["result"]["content"][0]["text"] == "ana deletes it"


async def test_2025_tasks_result_asks_them_as_one_form(server: InProcessServer) -> None:
    asked: list[Any] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        asked.append(params)
        return ElicitResult(action="accept", content={"name": "bo", "confirm": False})

    async with client(server.mcp_url, CONTEXT, mode="legacy", elicitation_callback=person) as legacy:
        created = await raw_request(legacy, "tools/call", {"name": "two_questions", "arguments": {}, "task": {}})
        task_id = created["task"]["taskId"]
        with anyio.fail_after(30):
            while (await raw_request(legacy, "tasks/get", {"taskId": task_id}))["status"] != "input_required":
                await anyio.sleep(0.02)
        result = await raw_request(legacy, "tasks/result", {"taskId": task_id})
    assert result["content"][0]["text"] == "bo keeps it"
    [form] = asked
    assert set(form.requested_schema["properties"]) == {"name", "confirm"}
    assert "Who owns it?" in form.message and "Delete it?" in form.message


async def test_plain_tools_show_every_question_and_answer_them_together(server: InProcessServer) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as legacy:
        started = await legacy.call_tool("start_two_questions", {})
        task_id = started.structured_content["task_id"]
        with anyio.fail_after(30):
            while (status := (await legacy.call_tool("check_task_status", {"task_id": task_id})).structured_content)[
                "status"
            ] != "input_required":
                await anyio.sleep(0.02)
        assert len(status["questions"]) == 2
        assert set(status["answer_all"]["requested_schema"]["properties"]) == {"name", "confirm"}
        answered = await legacy.call_tool(
            "answer_task", {"task_id": task_id, "content": {"name": "cy", "confirm": True}}
        )
        assert not answered.is_error, answered.content
        with anyio.fail_after(30):
            while (result := await legacy.call_tool("get_task_result", {"task_id": task_id})).is_error:
                await anyio.sleep(0.02)
    assert result.content[0].text == "cy deletes it"


async def test_in_the_request_shared_field_names_are_told_apart(server: InProcessServer) -> None:
    asked: list[Any] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        asked.append(params)
        return ElicitResult(action="accept", content={"owner_name": "dee", "note_name": "q3"})

    async with client(server.mcp_url, CONTEXT, mode="legacy", elicitation_callback=person) as legacy:
        result = await legacy.call_tool("clashing_questions", {})
    assert not result.is_error, result.content
    assert result.content[0].text == "dee / q3"
    [form] = asked
    assert set(form.requested_schema["properties"]) == {"owner_name", "note_name"}


# ---------------------------------------------------------------- input gathered in the call, then a task
async def test_a_2026_client_answers_in_the_call_then_gets_a_task(server: InProcessServer) -> None:
    headers = {**CONTEXT, "Mcp-Method": "tools/call", "Mcp-Name": "report_for"}
    status, first = post_raw(
        server.port, envelope("tools/call", {"name": "report_for", "arguments": {"pages": 3}}), headers
    )
    round1 = first["result"]
    assert status == 200 and round1["resultType"] == "input_required" and "taskId" not in round1
    [key] = round1["inputRequests"]
    answered = {
        "name": "report_for",
        "arguments": {"pages": 3},
        "inputResponses": {key: {"action": "accept", "content": {"name": "eve"}}},
        "requestState": round1["requestState"],
    }
    status, second = post_raw(server.port, envelope("tools/call", answered), headers)
    round2 = second["result"]
    assert status == 200 and round2["resultType"] == "task", second
    assert "requestState" not in round2 and "inputRequests" not in round2
    async with modern(server.mcp_url) as session:
        done = await until(session, round2["taskId"], "completed", "failed")
    assert done["result"]["content"][0]["text"] == "3 page(s) for eve (task True)"

    # The mcp 2.3.0 client drives the round itself (its elicitation callback answers), then the task.
    async def person(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"name": "ivy"})

    async with modern(server.mcp_url, elicitation_callback=person) as session:
        resolved = await session.call_tool("report_for", {"pages": 5})
    assert resolved.content[0].text == "5 page(s) for ivy (task True)"


async def test_a_2025_session_is_asked_over_its_back_channel_before_the_task_starts(server: InProcessServer) -> None:
    async def person(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"name": "fay"})

    async with client(server.mcp_url, CONTEXT, mode="legacy", elicitation_callback=person) as legacy:
        started = await legacy.call_tool("start_report_for", {"pages": 2})
        assert not started.is_error, started.content
        task_id = started.structured_content["task_id"]
        with anyio.fail_after(30):
            while (result := await legacy.call_tool("get_task_result", {"task_id": task_id})).is_error:
                await anyio.sleep(0.02)
    assert result.content[0].text == "2 page(s) for fay (task True)"


def test_gathered_values_are_stored_with_the_task_and_given_back_to_every_run() -> None:
    catalog = ToolCatalog([report_for])
    stored = catalog.stored_arguments("report_for", {"pages": 4}, {"owner": Owner(name="gus")})
    assert stored == {"pages": 4, RESOLVED_KEY: {"owner": {"name": "gus"}}}
    json.dumps(stored)  # kept in the task store as JSON

    class Ctx(TaskContext):
        task_id = "t-1"

        async def report_progress(
            self, progress: float, total: float | None = None, message: str | None = None
        ) -> None:
            pass

        @property
        def cancelled(self) -> bool:
            return False

    result = anyio.run(catalog.call, "report_for", json.loads(json.dumps(stored)), Ctx())
    assert result["content"][0]["text"] == "4 page(s) for gus (task True)"


# ---------------------------------------------------------------- exactly the given tools
def test_build_serves_exactly_the_given_tools_when_asked(tmp_path: Path) -> None:
    async def names(url: str) -> set[str]:
        async with client(url, CONTEXT, mode="legacy") as legacy:
            return {t.name for t in (await legacy.list_tools()).tools}

    settings = test_settings(tmp_path)
    with InProcessServer(settings, [only_task, broken], plain_tools=False, handoff_tools=False) as bare:
        assert anyio.run(names, bare.mcp_url) == {"only_task", "broken"}
    with InProcessServer(settings, [only_task]) as full:
        listed = anyio.run(names, full.mcp_url)
    assert {"only_task", "start_only_task", "check_task_status", "request_sandbox_account"} <= listed
