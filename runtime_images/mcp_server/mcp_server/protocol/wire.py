"""What the protocol doors share: a task's wire shape, the caller of a request, error shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp_types import ClientCapabilities
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from kit_contracts.errors import problems
from mcp_server import constants as c
from mcp_server.caller import Caller, caller_from_headers
from mcp_server.engine import views
from mcp_server.settings import Settings
from mcp_server.store.base import TaskRecord

RELATED_TASK_META = "io.modelcontextprotocol/related-task"
REQUEST_KEY_META = "requestKey"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def task_wire(record: TaskRecord, poll_interval_ms: int, modern: bool) -> dict[str, Any]:
    """The task object of either era (2026 names its ttl and poll interval in `...Ms`)."""
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


def is_modern(ctx: ServerRequestContext[Any, Any]) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def declares_tasks_extension(ctx: ServerRequestContext[Any, Any]) -> bool:
    caps = ctx.session.client_capabilities
    return bool(caps and caps.extensions and c.TASKS_EXTENSION in caps.extensions)


def can_elicit(caps: ClientCapabilities | None) -> bool:
    """Whether a question can be put to this client as a form (the SDK's own rule).

    A bare `elicitation: {}` means form support; url-only elicitation does not.
    """
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def caller_of(ctx: ServerRequestContext[Any, Any], settings: Settings) -> Caller:
    """The caller of this request; raises CallerContextError naming the header that is missing or bad."""
    return caller_from_headers(getattr(ctx.request, "headers", None), settings.memory_id)


def validation_message(tool: str, exc: ValidationError) -> str:
    return f"invalid arguments for {tool}: {problems(exc, whole='(arguments)')}"


def error_result(message: str, modern: bool) -> dict[str, Any]:
    result = views.error_result(message)
    if modern:
        result["resultType"] = "complete"
    return result
