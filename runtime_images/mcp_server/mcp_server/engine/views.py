"""What a task record means to its caller, whichever protocol door asks: one definition each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_server import constants as c
from mcp_server.engine.questions import Question, from_request
from mcp_server.store.base import TaskRecord

if TYPE_CHECKING:
    from mcp.shared.exceptions import MCPError

# JSON-RPC error codes carried in a failed task's `error` (a tool's own error is not one: that
# task completed, with `isError` content). The engine failed while running or ending the task:
TASK_FAULT = -32603  # JSON-RPC internal error
WORKER_LOST = -32001
DEADLINE_EXCEEDED = -32002
# Over a per-actor quota (store.quotas): the error's data names the limit, the count and when to retry.
QUOTA_EXCEEDED = -32029


def questions(record: TaskRecord) -> dict[str, Question]:
    """The task's open questions by key (none once answered or ended)."""
    return {key: from_request(key, request) for key, request in record.pending_input.items()}


def result_of(record: TaskRecord) -> dict[str, Any]:
    """A completed task's CallToolResult (JSON)."""
    return record.result or {"content": []}


def failure_of(record: TaskRecord) -> dict[str, Any]:
    """A failed task's JSON-RPC error object."""
    return record.error or {"code": TASK_FAULT, "message": record.status_message or "failed"}


def protocol_error(exc: MCPError) -> dict[str, Any]:
    """The JSON-RPC error object of a protocol error a tool raised (a failed task's `error`)."""
    error: dict[str, Any] = {"code": exc.error.code, "message": exc.error.message}
    if exc.error.data is not None:
        error["data"] = exc.error.data
    return error


def error_result(message: str) -> dict[str, Any]:
    """A CallToolResult (JSON) reporting `message` as an error."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


def outcome_result(record: TaskRecord) -> dict[str, Any]:
    """A terminal task as the CallToolResult its caller gets: the result, or an error saying why not."""
    if record.status == c.STATUS_COMPLETED:
        return result_of(record)
    reason = (record.error or {}).get("message") or record.status_message or record.status
    return error_result(f"task {record.status}: {reason}")


def still_running(record: TaskRecord) -> str:
    """Why a working task has no result yet, and what to do."""
    if record.pending_input:
        return f"task {record.task_id!r} is waiting for input: see check_task_status, answer with answer_task"
    progress = "" if record.progress is None else f" (progress {record.progress:g}/{record.total or '?'})"
    return f"task {record.task_id!r} is still {record.status}{progress}; check again later"
