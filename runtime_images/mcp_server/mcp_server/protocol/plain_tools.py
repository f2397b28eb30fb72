"""The door for clients with no task support: plain tools over the same task service.

start_<tool>, check_task_status, get_task_result, answer_task and cancel_task.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any, Literal

import pydantic_core
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp_types import CallToolResult
from pydantic import BaseModel, Field, ValidationError, create_model

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.engine import views
from mcp_server.engine.api import AnswerRejected, CreateRefused, TaskNotFound, TaskService
from mcp_server.engine.questions import merge
from mcp_server.protocol.wire import iso, requester, validation_message
from mcp_server.result_blobs import MAX_READ_BYTES
from mcp_server.store.base import TaskRecord
from mcp_server.store.quotas import QuotaExceeded
from mcp_server.tooling import ToolSpec

TaskId = Annotated[str, Field(min_length=1, max_length=256, description="The task id returned by a start_* tool")]


class Question(BaseModel):
    message: str
    requested_schema: dict[str, Any] = Field(description="JSON schema of the answer's content")


class TaskStatus(BaseModel):
    task_id: str
    tool: str
    status: str = Field(description="working, input_required, completed, failed or cancelled")
    status_message: str | None = None
    tool_error: bool | None = Field(
        None, description="true when the task completed with the tool's own error as its result (get_task_result)"
    )
    questions: dict[str, Question] | None = Field(
        None, description="while input_required: the open questions by id; answer them with answer_task"
    )
    answer_all: Question | None = Field(
        None,
        description=(
            "with several open questions: all of them as one form; answer_task without question_id answers "
            "them all at once with content shaped by this requested_schema"
        ),
    )
    progress: float | None = None
    total: float | None = None
    attempt: int = Field(1, description="which run of the task this is: 1, then one more per lost worker")
    created_at: str
    last_updated_at: str
    poll_interval_ms: int


class ResultPart(BaseModel):
    task_id: str
    offset: int
    text: str = Field(description="this part of the result's JSON")
    total_bytes: int
    sha256: str = Field(description="of the whole result, to check the parts put together")
    next_offset: int | None = Field(description="where the next part starts; null once the end was read")


def _status(record: TaskRecord, tasks: TaskService) -> TaskStatus:
    open_questions = views.questions(record)
    merged = merge(open_questions) if len(open_questions) > 1 else None
    return TaskStatus(
        task_id=record.task_id,
        tool=record.tool,
        status=record.wire_status,
        status_message=record.status_message,
        tool_error=True if record.tool_error else None,
        questions={
            key: Question(message=q.message, requested_schema=q.requested_schema) for key, q in open_questions.items()
        }
        or None,
        answer_all=None
        if merged is None
        else Question(message=merged.message, requested_schema=merged.requested_schema),
        progress=record.progress,
        total=record.total,
        attempt=record.attempts,
        created_at=iso(record.created_at),
        last_updated_at=iso(record.updated_at),
        poll_interval_ms=tasks.settings.poll_interval_ms,
    )


def _caller(ctx: Context[Any, Any], tasks: TaskService) -> Caller:
    return requester()  # a JSON-RPC error naming the header when the caller context is not usable


async def _load(
    ctx: Context[Any, Any], tasks: TaskService, task_id: str, *, latest: bool = False
) -> tuple[Caller, TaskRecord]:
    caller = _caller(ctx, tasks)
    try:
        return caller, await tasks.load(caller, task_id, latest=latest)
    except TaskNotFound as exc:
        raise ToolError(str(exc)) from None


def start_tool(spec: ToolSpec, tasks: TaskService) -> Tool:
    """start_<name>: the tool's own arguments plus an optional request key; returns the task's status."""

    async def start(**kwargs: Any) -> TaskStatus:
        ctx: Context[Any, Any] = kwargs.pop("ctx")
        request_key = kwargs.pop("request_key", None)
        # Values the SDK gathered for Resolve(...) parameters in this call: stored with the task.
        resolved = {name: kwargs.pop(name) for name in tasks.catalog.resolved_names(spec.name) if name in kwargs}
        caller = _caller(ctx, tasks)
        # Stored as JSON: the worker (possibly in another process) validates it again.
        arguments = pydantic_core.to_jsonable_python(kwargs)
        try:
            record = await tasks.create(caller, spec.name, arguments, request_key=request_key, resolved=resolved)
        except ValidationError as exc:
            raise ToolError(validation_message(spec.name, exc)) from None
        except CreateRefused as exc:
            raise ToolError(str(exc)) from None
        except QuotaExceeded as exc:
            raise ToolError(str(exc)) from None
        return _status(record, tasks)

    base = tasks.catalog.mcp_tool(spec.name)
    arg_model = create_model(
        f"start_{spec.name}Arguments",
        __base__=base.fn_metadata.arg_model,
        request_key=(
            str | None,
            Field(
                None,
                min_length=1,
                max_length=128,
                description="Optional idempotency key: retrying with the same key returns the same task",
            ),
        ),
    )
    status = _status_output()
    return Tool(
        fn=start,
        name=f"start_{spec.name}",
        title=None,
        description=(
            f"Start {spec.name} as a durable background task and return its task id at once. "
            f"Poll with check_task_status, fetch with get_task_result. {spec.description}"
        ),
        parameters=arg_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(
            arg_model=arg_model,
            output_schema=copy.deepcopy(status.output_schema),
            output_model=status.output_model,
            wrap_output=status.wrap_output,
        ),
        is_async=True,
        context_kwarg="ctx",
        # The tool's Resolve(...) parameters are gathered by this call too, before the task starts.
        resolved_params=base.resolved_params,
        resolver_plans=base.resolver_plans,
    )


def _status_signature() -> TaskStatus:  # only lends its output schema to start_* tools
    raise NotImplementedError


@functools.cache
def _status_output() -> FuncMetadata:
    """What every start_* tool returns (TaskStatus), worked out once rather than once per tool."""
    return Tool.from_function(_status_signature, name="start", structured_output=True).fn_metadata


def task_tools(tasks: TaskService) -> list[Tool]:
    async def check_task_status(task_id: TaskId, ctx: Context[Any, Any]) -> TaskStatus:
        """Current status and progress of one of your tasks."""
        _, record = await _load(ctx, tasks, task_id, latest=True)
        return _status(record, tasks)

    async def get_task_result(task_id: TaskId, ctx: Context[Any, Any]) -> CallToolResult:
        """The result of one of your finished tasks (an error result if it failed or was cancelled)."""
        _, record = await _load(ctx, tasks, task_id)
        if record.status not in c.TERMINAL_STATUSES:
            raise ToolError(views.still_running(record))
        return CallToolResult.model_validate(views.outcome_result(record))

    async def answer_task(
        task_id: TaskId,
        ctx: Context[Any, Any],
        content: Annotated[
            dict[str, Any] | None, Field(description="the answer, shaped by the question's requested_schema")
        ] = None,
        action: Annotated[
            Literal["accept", "decline", "cancel"], Field(description="decline or cancel to answer nothing")
        ] = "accept",
        question_id: Annotated[
            str | None,
            Field(
                description=(
                    "which open question; omitted: every open question at once (content shaped by answer_all's "
                    "requested_schema when several are open)"
                )
            ),
        ] = None,
    ) -> TaskStatus:
        """Answer the questions one of your tasks asked (its status is input_required)."""
        caller, record = await _load(ctx, tasks, task_id)
        answer: dict[str, Any] = {"action": action, **({"content": content} if content is not None else {})}
        if question_id is not None:
            answers = {question_id: answer}
        elif record.pending_input:
            answers = merge(views.questions(record)).split(answer)
        else:
            raise ToolError(f"task {task_id!r} is {record.wire_status}: it has no open question")
        try:
            updated = await tasks.answer(caller, record, answers, lambda key: f"question_id={key!r}")
        except AnswerRejected as exc:
            raise ToolError(str(exc)) from None
        return _status(updated, tasks)

    async def read_task_result(
        task_id: TaskId,
        ctx: Context[Any, Any],
        offset: Annotated[int, Field(ge=0, description="byte offset to read from (0, then each next_offset)")] = 0,
        max_bytes: Annotated[
            int, Field(ge=1, le=MAX_READ_BYTES, description="how much to read at most")
        ] = MAX_READ_BYTES // 4,
    ) -> ResultPart:
        """Read part of one of your tasks' large results (get_task_result links to it): JSON text, in parts."""
        caller = _caller(ctx, tasks)
        try:
            data, details = await tasks.read_result(caller, task_id, offset, max_bytes)
        except (TaskNotFound, ValueError) as exc:
            raise ToolError(str(exc)) from None
        end = offset + len(data)
        return ResultPart(
            task_id=task_id,
            offset=offset,
            text=data.decode("ascii", errors="replace"),
            total_bytes=details["bytes"],
            sha256=details["sha256"],
            next_offset=end if end < details["bytes"] else None,
        )

    async def cancel_task(task_id: TaskId, ctx: Context[Any, Any]) -> TaskStatus:
        """Cancel one of your running tasks."""
        caller = _caller(ctx, tasks)
        try:
            outcome = await tasks.cancel(caller, task_id)
        except TaskNotFound as exc:
            raise ToolError(str(exc)) from None
        if outcome.already_ended:
            raise ToolError(outcome.refusal)
        return _status(outcome.record, tasks)

    return [
        Tool.from_function(check_task_status),
        Tool.from_function(get_task_result, structured_output=False),
        Tool.from_function(answer_task),
        Tool.from_function(cancel_task),
        Tool.from_function(read_task_result),
    ]
