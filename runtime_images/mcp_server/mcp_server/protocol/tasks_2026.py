"""The 2026-07-28 door: the tasks extension `io.modelcontextprotocol/tasks` (SEP-2663).

The server decides to answer a task-capable tools/call with `{resultType: "task", ...}` once
the task is stored; `tasks/get` carries the result, error or questions inline;
`tasks/update` answers questions; `tasks/cancel` answers `{}`. Progress is not
`notifications/progress` here: a working task's `statusMessage` carries it (`get`), and
`subscriptions/listen` pushes it as `notifications/tasks` (protocol.listen).
"""

from __future__ import annotations

import math
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.engine import views
from mcp_server.engine.api import AnswerRejected, TaskService
from mcp_server.protocol.wire import task_wire
from mcp_server.store.base import Progress, TaskRecord

TTL_META = "ttlMs"
# `_meta` of tasks/get and notifications/tasks: the task's latest progress numbers, for kit clients
# (the SEP-2663 task has only the text, `statusMessage`).
PROGRESS_META = "io.agentkit/progress"


def missing_extension(what: str) -> MCPError:
    """-32021 naming the tasks extension: `what` needs a client that declared it (SEP-2575, SEP-2663)."""
    return MCPError(
        code=MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=(
            f"Missing required client capability: {what} needs the {c.TASKS_EXTENSION} extension declared in "
            "_meta.io.modelcontextprotocol/clientCapabilities.extensions"
        ),
        data={"requiredCapabilities": {"extensions": {c.TASKS_EXTENSION: {}}}},
    )


def requested_ttl_seconds(meta: Any) -> int | None:
    """A client's wish for how long the task and its result are kept: `_meta.ttlMs` (positive milliseconds).

    The 2026-07-28 extension lets the server choose; a kit client may ask, within the server's bounds
    (TASK_MAX_TTL_SECONDS). The granted value is the task's `ttlMs`.
    """
    ttl_ms = meta.get(TTL_META) if isinstance(meta, dict) else None
    if ttl_ms is None:
        return None
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int | float) or not math.isfinite(ttl_ms) or ttl_ms <= 0:
        raise MCPError(
            code=INVALID_PARAMS, message=f"_meta.ttlMs={ttl_ms!r:.80}: expected a positive number of milliseconds"
        )
    return math.ceil(ttl_ms / 1000)


def created(record: TaskRecord, poll_interval_ms: int) -> dict[str, Any]:
    return {"resultType": "task", **task_wire(record, poll_interval_ms, modern=True)}


def get(record: TaskRecord, poll_interval_ms: int, live: Progress | None = None) -> dict[str, Any]:
    """The DetailedTask: the task, with its result, error or open questions inline, and its progress in `_meta`.

    `live`: a fresher progress report than the record's (from the process running the task).
    """
    live = live if record.status == c.STATUS_WORKING else None
    wire = task_wire(record, poll_interval_ms, modern=True, live=live)
    value, total, _ = live or (record.progress, record.total, None)
    if value is not None:
        wire["_meta"] = {PROGRESS_META: {"progress": value, "total": total}}
    if record.status == c.STATUS_COMPLETED:
        wire["result"] = views.result_of(record)
    elif wire["status"] == c.STATUS_INPUT_REQUIRED:
        wire["inputRequests"] = record.pending_input
    elif record.status == c.STATUS_FAILED:
        wire["error"] = views.failure_of(record)
    return wire


async def update(tasks: TaskService, caller: Caller, record: TaskRecord, responses: dict[str, Any]) -> dict[str, Any]:
    """Deliver the answers to open questions; the rest is ignored (SEP-2663: keys not outstanding,
    never issued or already answered). A partial set leaves the task input_required."""
    pending = record.pending_input
    open_answers = {key: answer for key, answer in responses.items() if key in pending}
    if open_answers:
        try:
            await tasks.answer(caller, record, open_answers)
        except AnswerRejected as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
    return {}


def cancelled() -> dict[str, Any]:
    return {}
