"""Serving the engine's tasks to every kind of client over the one store.

- 2026-07-28 clients that declare `io.modelcontextprotocol/tasks` (SEP-2663): a
  task-capable `tools/call` is answered `{resultType: "task", ...}` once the task is
  stored; `tasks/get` (result or error inline), `tasks/update`, `tasks/cancel`.
- 2025-11-25 clients (SEP-1686): `params.task` on `tools/call`, `tasks/get`,
  `tasks/result`, `tasks/list`, `tasks/cancel`, `execution.taskSupport` on tools and
  the `tasks` server capability.
- Everyone else: the plain tools in `plain_tools.py`.

Task creation sits in a server middleware rather than a tools/call interceptor:
the SDK validates interceptor results against the era's CallToolResult schema,
which a 2025-era CreateTaskResult is not.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND, RequestParams
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import Field, ValidationError

from mcp_server import constants as c
from mcp_server.caller import Caller, CallerContextError, caller_from_headers
from mcp_server.engine import TaskEngine
from mcp_server.live import LiveTasks
from mcp_server.store.base import TaskRecord

REQUEST_KEY_META = "requestKey"
RELATED_TASK_META = "io.modelcontextprotocol/related-task"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def task_wire(record: TaskRecord, poll_interval_ms: int, modern: bool) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.wire_status,
        "createdAt": iso(record.created_at),
        "lastUpdatedAt": iso(max(record.updated_at, record.created_at)),
    }
    if record.status_message:
        wire["statusMessage"] = record.status_message
    if modern:
        wire["ttlMs"] = record.ttl_seconds * 1000
        wire["pollIntervalMs"] = poll_interval_ms
    else:
        wire["ttl"] = record.ttl_seconds * 1000
        wire["pollInterval"] = poll_interval_ms
    return wire


def validation_message(tool: str, exc: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors())
    return f"invalid arguments for {tool}: {problems}"


def caller_of(ctx: ServerRequestContext[Any, Any], engine: TaskEngine) -> Caller:
    headers = getattr(ctx.request, "headers", None)
    return caller_from_headers(headers, engine.settings.memory_id)


def _is_modern(ctx: ServerRequestContext[Any, Any]) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _declares_tasks_extension(ctx: ServerRequestContext[Any, Any]) -> bool:
    caps = ctx.session.client_capabilities
    return bool(caps and caps.extensions and c.TASKS_EXTENSION in caps.extensions)


def _error_result(message: str, modern: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": message}], "isError": True}
    if modern:
        result["resultType"] = "complete"
    return result


def task_support(engine: TaskEngine, tool_name: str) -> str:
    """SEP-1686 `execution.taskSupport` of a tool, from its declaration (absent means forbidden)."""
    spec = engine.specs.get(tool_name)
    if spec is None or spec.mode == "request":
        return "forbidden"
    return "required" if spec.mode == "task" else "optional"


def requested_ttl_seconds(task: Any) -> int | None:
    """`params.task` of a 2025-era tools/call: `{ttl?: positive integer milliseconds}`; raises MCPError otherwise."""
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


class TasksMiddleware:
    """Task creation on tools/call, plus the task capability/tool annotations of the 2025 era."""

    def __init__(self, engine: TaskEngine, live: LiveTasks | None = None) -> None:
        self.engine = engine
        self.live = live

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.request_id is not None:
            created = await self._maybe_create(ctx)
            if created is not None:
                return created
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
            result["capabilities"]["tasks"] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        elif ctx.method == "tools/list" and isinstance(result, dict):
            for tool in result.get("tools", []):
                support = task_support(self.engine, tool.get("name"))
                if support != "forbidden":
                    tool["execution"] = {"taskSupport": support}
        return result

    async def _maybe_create(self, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any] | None:
        params = ctx.params or {}
        name = params.get("name")
        modern = _is_modern(ctx)
        if not modern and isinstance(name, str):
            self._check_task_support(name, params)
        spec = self.engine.specs.get(name) if isinstance(name, str) else None
        if spec is None or spec.mode == "request":
            return None
        if modern:
            # SEP-2663: the server decides; it answers with a task whenever the client can take one.
            if not _declares_tasks_extension(ctx):
                return None
            ttl_seconds = None
        else:
            task = params.get("task")
            if task is None:
                return None
            ttl_seconds = requested_ttl_seconds(task)
        try:
            caller = caller_of(ctx, self.engine)
        except CallerContextError as exc:
            return _error_result(f"{spec.name} needs the caller's context: {exc}", modern)
        meta = params.get("_meta") or {}
        request_key = meta.get(REQUEST_KEY_META) if isinstance(meta, dict) else None
        if request_key is not None and (not isinstance(request_key, str) or not 1 <= len(request_key) <= 128):
            return _error_result("_meta.requestKey: expected a string of 1..128 characters", modern)
        arguments = params.get("arguments") or {}
        try:
            record = await self.engine.create(
                caller, spec.name, arguments, ttl_seconds=ttl_seconds, request_key=request_key
            )
        except ValidationError as exc:
            return _error_result(validation_message(spec.name, exc), modern)
        wire = task_wire(record, self.engine.settings.poll_interval_ms, modern)
        if modern:
            return {"resultType": "task", **wire}
        if self.live is not None and record.status not in c.TERMINAL_STATUSES:
            poll_ms = self.engine.settings.poll_interval_ms
            self.live.watch(
                record.task_id, ctx.session, _progress_token(params), lambda r: task_wire(r, poll_ms, modern=False)
            )
        return {"task": wire, "_meta": {RELATED_TASK_META: {"taskId": record.task_id}}}

    def _check_task_support(self, name: str, params: Any) -> None:
        """SEP-1686: a `required` tool called without `task`, or a `forbidden` one with it, is -32601."""
        support = task_support(self.engine, name)
        if support == "required" and params.get("task") is None:
            raise MCPError(
                code=METHOD_NOT_FOUND,
                message=(
                    f"tool {name!r} has execution.taskSupport 'required': call it with params.task "
                    f"(e.g. {{'ttl': 60000}}), or use start_{name}"
                ),
            )
        if support == "forbidden" and params.get("task") is not None:
            raise MCPError(
                code=METHOD_NOT_FOUND,
                message=(
                    f"tool {name!r} cannot run as a task (execution.taskSupport is 'forbidden' or the tool "
                    "does not exist): call it without params.task"
                ),
            )


def _progress_token(params: Any) -> Any:
    meta = params.get("_meta") if isinstance(params, dict) else None
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    return token if isinstance(token, str | int) and not isinstance(token, bool) else None


class TaskIdParams(RequestParams):
    task_id: str = Field(min_length=1, max_length=256)


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any] = Field(default_factory=dict)


class ListTasksParams(RequestParams):
    cursor: str | None = Field(default=None, max_length=256)


# tasks/list pages through at most this many of the caller's newest tasks.
MAX_LISTED = 1000


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


ELICIT_ACTIONS = ("accept", "decline", "cancel")
# An answer is stored with its task (DynamoDB items are at most 400 KB).
MAX_ANSWER_BYTES = 64 * 1024


def _protocol_field(key: str) -> str:
    return f"inputResponses.{key}"


def check_answer(where: str, answer: Any) -> dict[str, Any]:
    """An ElicitResult-shaped answer, or MCPError (-32602) naming `where` and what was expected."""
    if not isinstance(answer, dict) or answer.get("action") not in ELICIT_ACTIONS:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"{where}: expected {{'action': 'accept'|'decline'|'cancel', 'content'?: {{...}}}}",
        )
    content = answer.get("content")
    if content is not None and not isinstance(content, dict):
        raise MCPError(code=INVALID_PARAMS, message=f"{where}.content: expected an object of answers")
    checked = {"action": answer["action"], **({"content": content} if content is not None else {})}
    if len(json.dumps(checked)) > MAX_ANSWER_BYTES:
        raise MCPError(code=INVALID_PARAMS, message=f"{where}.content: expected at most {MAX_ANSWER_BYTES} bytes")
    return checked


async def answer_questions(
    engine: TaskEngine,
    caller: Caller,
    record: TaskRecord,
    answers: dict[str, Any],
    where: Callable[[str], str] = _protocol_field,
) -> None:
    """Deliver answers to the task's open questions; MCPError (-32602) saying what is wrong otherwise.

    `where(key)` names the caller's field for a question id in error messages.
    """
    pending = record.pending_input
    if not pending:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"task {record.task_id!r} is {record.wire_status}, not input_required: it is not waiting for input",
        )
    if not answers:
        raise MCPError(code=INVALID_PARAMS, message=f"inputResponses: expected answers for {sorted(pending)}")
    for key in answers:
        if key not in pending:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"{where(key)}: not an open question of this task; open: {sorted(pending)}",
            )
    checked = {key: check_answer(where(key), answer) for key, answer in answers.items()}
    if await engine.provide_input(caller, record.task_id, checked) is None:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"task {record.task_id!r} stopped waiting for {sorted(checked)} (answered or ended meanwhile)",
        )


def _can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    caps = ctx.session.client_capabilities
    return bool(caps and caps.elicitation is not None)


async def _elicit_over_session(
    ctx: ServerRequestContext[Any, Any], question: dict[str, Any], still_open: Callable[[], Awaitable[bool]]
) -> dict[str, Any] | None:
    """Put the question to the client; None if it was answered or ended elsewhere first."""
    params = question.get("params") or {}
    answer: dict[str, Any] | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            # Answered elsewhere (plain tool, another client) or the task ended: stop asking here.
            while await still_open():
                await anyio.sleep(1)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            result = await ctx.session.elicit_form(
                params.get("message", ""), params.get("requestedSchema") or {}, related_request_id=ctx.request_id
            )
        except NoBackChannelError:
            raise MCPError(
                code=INVALID_PARAMS,
                message="the task is waiting for input, and this connection cannot carry the question (no session)",
            ) from None
        answer = result.model_dump(mode="json", exclude_none=True, include={"action", "content"})
        tg.cancel_scope.cancel()
    return answer


class TasksExtension(Extension):
    identifier = c.TASKS_EXTENSION

    def __init__(self, engine: TaskEngine) -> None:
        self.engine = engine

    def methods(self) -> list[MethodBinding]:
        legacy = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel),
            MethodBinding("tasks/update", UpdateTaskParams, self._update, frozenset(MODERN_PROTOCOL_VERSIONS)),
            MethodBinding("tasks/result", TaskIdParams, self._result, legacy),
            MethodBinding("tasks/list", ListTasksParams, self._list, legacy),
        ]

    def _caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        try:
            return caller_of(ctx, self.engine)
        except CallerContextError as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None

    async def _load(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> tuple[Caller, TaskRecord]:
        caller = self._caller(ctx)
        record = await self.engine.get(caller, task_id)
        if record is None:
            # Another actor's task is indistinguishable from a missing one.
            raise MCPError(code=INVALID_PARAMS, message=f"task {task_id!r} not found")
        return caller, record

    def _wire(self, ctx: ServerRequestContext[Any, Any], record: TaskRecord) -> dict[str, Any]:
        return task_wire(record, self.engine.settings.poll_interval_ms, _is_modern(ctx))

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        _, record = await self._load(ctx, params.task_id)
        wire = self._wire(ctx, record)
        if _is_modern(ctx):
            if record.status == c.STATUS_COMPLETED:
                wire["result"] = record.result or {"content": []}
            elif wire["status"] == c.STATUS_INPUT_REQUIRED:
                wire["inputRequests"] = record.pending_input
            elif record.status == c.STATUS_FAILED:
                wire["error"] = record.error or {"code": -32000, "message": record.status_message or "failed"}
        return wire

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        caller, record = await self._load(ctx, params.task_id)
        if record.status in c.TERMINAL_STATUSES:
            raise MCPError(
                code=INVALID_PARAMS,
                message=(f"task {params.task_id!r} is already {record.status}; a terminal task cannot be cancelled"),
            )
        cancelled = await self.engine.cancel(caller, params.task_id)
        if _is_modern(ctx):
            return {}
        return self._wire(ctx, cancelled or record)

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> dict[str, Any]:
        caller, record = await self._load(ctx, params.task_id)
        await answer_questions(self.engine, caller, record, params.input_responses)
        return {}

    async def _result(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        caller, record = await self._load(ctx, params.task_id)
        # SEP-1686: tasks/result blocks until the task is terminal; a question the task asks
        # meanwhile goes to the client over this request's session, and its answer back to the task.
        while record.status not in c.TERMINAL_STATUSES:
            # A client that cannot be asked keeps waiting here; the question can be answered
            # another way (answer_task, another client).
            for key, question in record.pending_input.items() if _can_elicit(ctx) else ():

                async def still_open(key: str = key) -> bool:
                    current = await self.engine.get(caller, params.task_id)
                    return current is not None and key in current.pending_input

                answer = await _elicit_over_session(ctx, question, still_open)
                if answer is not None:
                    await self.engine.provide_input(caller, record.task_id, {key: answer})
            await anyio.sleep(self.engine.settings.poll_interval_ms / 1000)
            current = await self.engine.get(caller, params.task_id)
            if current is None:
                raise MCPError(code=INVALID_PARAMS, message=f"task {params.task_id!r} not found")
            record = current
        related = {RELATED_TASK_META: {"taskId": record.task_id}}
        if record.status == c.STATUS_COMPLETED:
            return {**(record.result or {"content": []}), "_meta": related}
        message = (record.error or {}).get("message") or record.status_message or record.status
        return {**_error_result(f"task {record.status}: {message}", False), "_meta": related}

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: ListTasksParams) -> dict[str, Any]:
        caller = self._caller(ctx)
        offset = decode_cursor(params.cursor)
        page = self.engine.settings.task_list_page_size
        # The store lists newest first; one more than the page tells whether another page follows.
        records = await self.engine.list_tasks(caller, limit=min(offset + page + 1, MAX_LISTED))
        result: dict[str, Any] = {"tasks": [self._wire(ctx, r) for r in records[offset : offset + page]]}
        if len(records) > offset + page and offset + page < MAX_LISTED:
            result["nextCursor"] = encode_cursor(offset + page)
        return result
