"""Binds the 2025 and 2026 task doors into the SDK, choosing the door by the request's protocol era.

Task creation sits in a server middleware rather than a tools/call interceptor: the SDK
validates interceptor results against the era's CallToolResult schema, which a 2025-era
CreateTaskResult is not. The tasks/* methods are an extension's method bindings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, RequestParams
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field, ValidationError

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.engine.api import CreateRefused, TaskNotFound, TaskService
from mcp_server.engine.views import QUOTA_EXCEEDED
from mcp_server.live import LiveTasks
from mcp_server.protocol import tasks_2025, tasks_2026
from mcp_server.protocol.gather import gather
from mcp_server.protocol.wire import (
    ATTEMPT_META,
    REQUEST_KEY_META,
    declares_tasks_extension,
    error_result,
    is_modern,
    requester,
    task_wire,
    validation_message,
)
from mcp_server.store.base import TaskRecord
from mcp_server.store.quotas import QuotaExceeded

P = TypeVar("P", bound=BaseModel)
Ctx = ServerRequestContext[Any, Any]


class TaskIdParams(RequestParams):
    task_id: str = Field(min_length=1, max_length=256)


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any] = Field(default_factory=dict)


class ListTasksParams(RequestParams):
    cursor: str | None = Field(default=None, max_length=256)


class TasksMiddleware:
    """Task creation on tools/call, plus the task capability and tool annotations of the 2025 era."""

    def __init__(self, tasks: TaskService, live: LiveTasks | None = None) -> None:
        self.tasks = tasks
        self.live = live
        # The server these requests reach (set once it is built): Resolve(...) parameters need it.
        self.server: MCPServer[Any] | None = None

    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.request_id is not None:
            created = await self._maybe_create(ctx)
            if created is not None:
                return created
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
            result["capabilities"]["tasks"] = tasks_2025.CAPABILITY
        elif ctx.method == "tools/list" and isinstance(result, dict):
            tasks_2025.annotate_tools(self.tasks.catalog, result)
        return result

    async def _maybe_create(self, ctx: Ctx) -> dict[str, Any] | None:
        params = ctx.params or {}
        name = params.get("name")
        modern = is_modern(ctx)
        catalog = self.tasks.catalog
        if not modern and isinstance(name, str):
            tasks_2025.check_task_support(catalog, name, params.get("task"))
        spec = catalog.get(name) if isinstance(name, str) else None
        if spec is None or spec.mode == "request":
            return None
        if modern:
            # SEP-2663: the server decides; it answers with a task whenever the client can take one.
            if not declares_tasks_extension(ctx):
                if spec.mode == "task":  # it cannot run in the request: the client must take a task
                    raise tasks_2026.missing_extension(f"{spec.name} (it runs only as a task)")
                return None
            # The extension carries no ttl of the client's: the kit reads one from _meta (ttlMs).
            ttl_seconds = tasks_2026.requested_ttl_seconds(params.get("_meta"))
        else:
            if params.get("task") is None:
                return None
            ttl_seconds = tasks_2025.requested_ttl_seconds(params.get("task"))
        caller = requester()
        meta = params.get("_meta") or {}
        request_key = meta.get(REQUEST_KEY_META) if isinstance(meta, dict) else None
        if request_key is not None and (not isinstance(request_key, str) or not 1 <= len(request_key) <= 128):
            return error_result("_meta.requestKey: expected a string of 1..128 characters", modern)
        try:
            # Input the tool gathers first (Resolve(...) parameters): a round still missing answers
            # is this call's reply, and no task exists yet.
            gathered = await gather(ctx, self.server, catalog.mcp_tool(spec.name), params)
            if gathered.reply is not None:
                return gathered.reply
            record = await self.tasks.create(
                caller,
                spec.name,
                params.get("arguments") or {},
                ttl_seconds=ttl_seconds,
                request_key=request_key,
                resolved=gathered.values,
            )
        except ValidationError as exc:
            return error_result(validation_message(spec.name, exc), modern)
        except ToolError as exc:  # an answer declined or not fitting: the tool's error, as in the request
            return error_result(f"{spec.name}: {exc}", modern)
        except CreateRefused as exc:
            return error_result(str(exc), modern)
        except QuotaExceeded as exc:
            raise MCPError(code=QUOTA_EXCEEDED, message=str(exc), data=exc.data()) from None
        poll_ms = self.tasks.settings.poll_interval_ms
        if modern:
            return tasks_2026.created(record, poll_ms)
        if self.live is not None and record.status not in c.TERMINAL_STATUSES:
            self.live.watch(
                record.task_id, ctx.session, _progress_token(params), lambda r: task_wire(r, poll_ms, modern=False)
            )
        return tasks_2025.created(record, poll_ms)


def _progress_token(params: Any) -> Any:
    meta = params.get("_meta") if isinstance(params, dict) else None
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    return token if isinstance(token, str | int) and not isinstance(token, bool) else None


class TasksExtension(Extension):
    identifier = c.TASKS_EXTENSION

    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    def methods(self) -> list[MethodBinding]:
        legacy = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)
        return [
            MethodBinding("tasks/get", TaskIdParams, self._handler(self._get)),
            MethodBinding("tasks/cancel", TaskIdParams, self._handler(self._cancel)),
            MethodBinding(
                "tasks/update", UpdateTaskParams, self._handler(self._update), frozenset(MODERN_PROTOCOL_VERSIONS)
            ),
            MethodBinding("tasks/result", TaskIdParams, self._handler(self._result), legacy),
            MethodBinding("tasks/list", ListTasksParams, self._handler(self._list), legacy),
        ]

    def _handler(
        self, method: Callable[[Ctx, Caller, P], Awaitable[dict[str, Any]]]
    ) -> Callable[[Ctx, P], Awaitable[dict[str, Any]]]:
        """Resolve the caller, run the method, and answer the service's errors as JSON-RPC -32602."""

        async def handle(ctx: Ctx, params: P) -> dict[str, Any]:
            if is_modern(ctx) and not declares_tasks_extension(ctx):
                raise tasks_2026.missing_extension(str(ctx.method))
            caller = requester()
            try:
                return await method(ctx, caller, params)
            except TaskNotFound as exc:
                raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None

        return handle

    async def _load(self, caller: Caller, task_id: str) -> TaskRecord:
        return await self.tasks.load(caller, task_id)

    async def _get(self, ctx: Ctx, caller: Caller, params: TaskIdParams) -> dict[str, Any]:
        record = await self.tasks.load(caller, params.task_id, latest=True)
        poll = self.tasks.settings.poll_interval_ms
        wire = tasks_2026.get(record, poll) if is_modern(ctx) else task_wire(record, poll, modern=False)
        wire["_meta"] = {**wire.get("_meta", {}), ATTEMPT_META: record.attempts}
        return wire

    async def _cancel(self, ctx: Ctx, caller: Caller, params: TaskIdParams) -> dict[str, Any]:
        outcome = await self.tasks.cancel(caller, params.task_id)
        if is_modern(ctx):
            # SEP-2663: acknowledged whatever the status (idempotent); -32602 only for unknown ids.
            return tasks_2026.cancelled()
        if outcome.already_ended:  # SEP-1686 (2025-11-25): a terminal task cannot be cancelled
            raise MCPError(code=INVALID_PARAMS, message=outcome.refusal)
        return tasks_2025.cancelled(outcome.record, self.tasks.settings.poll_interval_ms)

    async def _update(self, ctx: Ctx, caller: Caller, params: UpdateTaskParams) -> dict[str, Any]:
        record = await self._load(caller, params.task_id)
        return await tasks_2026.update(self.tasks, caller, record, params.input_responses)

    async def _result(self, ctx: Ctx, caller: Caller, params: TaskIdParams) -> dict[str, Any]:
        record = await self._load(caller, params.task_id)
        return await tasks_2025.result(self.tasks, caller, record, ctx)

    async def _list(self, ctx: Ctx, caller: Caller, params: ListTasksParams) -> dict[str, Any]:
        return await tasks_2025.list_page(self.tasks, caller, params.cursor, self.tasks.settings.task_list_page_size)
