"""The 2025-11-25 door: the Tasks utility (SEP-1686).

`params.task` on tools/call creates a task (CreateTaskResult); `tasks/get`, `tasks/result`
(blocks until terminal, asking the client the task's questions meanwhile), `tasks/list`,
`tasks/cancel`; tools carry `execution.taskSupport` and the server the `tasks` capability.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.engine import views
from mcp_server.engine.api import AnswerRejected, TaskService
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.questions import merge
from mcp_server.protocol.wire import RELATED_TASK_META, can_elicit, task_wire
from mcp_server.store.base import TaskRecord

CAPABILITY = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
# tasks/list pages through at most this many of the caller's newest tasks.
MAX_LISTED = 1000


def requested_ttl_seconds(task: Any) -> int | None:
    """`params.task` of a tools/call: `{ttl?: positive integer milliseconds}`; raises MCPError otherwise."""
    if not isinstance(task, dict):
        raise MCPError(
            code=INVALID_PARAMS, message=f"params.task: expected an object such as {{'ttl': 60000}}, got {task!r:.80}"
        )
    ttl_ms = task.get("ttl")
    if ttl_ms is None:
        return None
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int | float) or not math.isfinite(ttl_ms) or ttl_ms <= 0:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"params.task.ttl={ttl_ms!r:.80}: expected a positive number of milliseconds",
        )
    return math.ceil(ttl_ms / 1000)


def check_task_support(catalog: ToolCatalog, name: str, task: Any) -> None:
    """A `required` tool called without `task`, or a `forbidden` one with it, is -32601."""
    support = catalog.task_support(name)
    if support == "required" and task is None:
        raise MCPError(
            code=METHOD_NOT_FOUND,
            message=(
                f"tool {name!r} has execution.taskSupport 'required': call it with params.task "
                f"(e.g. {{'ttl': 60000}}), or use start_{name}"
            ),
        )
    if support == "forbidden" and task is not None:
        raise MCPError(
            code=METHOD_NOT_FOUND,
            message=(
                f"tool {name!r} cannot run as a task (execution.taskSupport is 'forbidden' or the tool "
                "does not exist): call it without params.task"
            ),
        )


def annotate_tools(catalog: ToolCatalog, result: dict[str, Any]) -> None:
    for tool in result.get("tools", []):
        support = catalog.task_support(tool.get("name"))
        if support != "forbidden":
            tool["execution"] = {"taskSupport": support}


def created(record: TaskRecord, poll_interval_ms: int) -> dict[str, Any]:
    return {
        "task": task_wire(record, poll_interval_ms, modern=False),
        "_meta": {RELATED_TASK_META: {"taskId": record.task_id}},
    }


def cancelled(record: TaskRecord, poll_interval_ms: int) -> dict[str, Any]:
    return task_wire(record, poll_interval_ms, modern=False)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The offset in an opaque cursor from an earlier tasks/list; raises MCPError (-32602) if it is not one."""
    if cursor is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 < offset < MAX_LISTED:
        raise MCPError(code=INVALID_PARAMS, message=f"cursor={cursor[:80]!r}: expected a nextCursor from tasks/list")
    return offset


async def list_page(tasks: TaskService, caller: Caller, cursor: str | None, page: int) -> dict[str, Any]:
    offset = decode_cursor(cursor)
    # The store lists newest first; one more than the page tells whether another page follows.
    records = await tasks.list(caller, limit=min(offset + page + 1, MAX_LISTED))
    poll = tasks.settings.poll_interval_ms
    result: dict[str, Any] = {"tasks": [task_wire(r, poll, modern=False) for r in records[offset : offset + page]]}
    if len(records) > offset + page and offset + page < MAX_LISTED:
        result["nextCursor"] = encode_cursor(offset + page)
    return result


async def result(
    tasks: TaskService, caller: Caller, record: TaskRecord, ctx: ServerRequestContext[Any, Any]
) -> dict[str, Any]:
    """Block until the task is terminal; questions it asks meanwhile go to the client over this session.

    Several open questions go as one elicitation with every question's fields (engine.questions).
    """
    task_id = record.task_id
    while record.status not in c.TERMINAL_STATUSES:
        # A client that cannot be asked keeps waiting here; the questions can be answered
        # another way (answer_task, another client).
        open_questions = views.questions(record)
        if open_questions and can_elicit(ctx.session.client_capabilities):
            merged = merge(open_questions)

            async def still_open(asked: frozenset[str] = frozenset(open_questions)) -> bool:
                current = await tasks.find(caller, task_id)
                return current is not None and asked <= set(current.pending_input)

            answer = await _elicit_over_session(ctx, merged.message, merged.requested_schema, still_open)
            if answer is not None:
                try:
                    await tasks.answer(caller, record, merged.split(answer))
                except AnswerRejected:
                    pass  # answered elsewhere or ended meanwhile: the loop reads the task again
        await anyio.sleep(tasks.settings.poll_interval_ms / 1000)
        record = await tasks.load(caller, task_id)
    related = {RELATED_TASK_META: {"taskId": record.task_id}}
    return {**views.outcome_result(record), "_meta": related}


async def _elicit_over_session(
    ctx: ServerRequestContext[Any, Any],
    message: str,
    requested_schema: dict[str, Any],
    still_open: Callable[[], Awaitable[bool]],
) -> dict[str, Any] | None:
    """Put the question to the client; None if it was answered or ended elsewhere first."""
    answer: dict[str, Any] | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            # Answered elsewhere (plain tool, another client) or the task ended: stop asking here.
            while await still_open():
                await anyio.sleep(1)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            asked = await ctx.session.elicit_form(message, requested_schema, related_request_id=ctx.request_id)
        except NoBackChannelError:
            raise MCPError(
                code=INVALID_PARAMS,
                message="the task is waiting for input, and this connection cannot carry the question (no session)",
            ) from None
        answer = asked.model_dump(mode="json", exclude_none=True, include={"action", "content"})
        tg.cancel_scope.cancel()
    return answer
