"""What the protocol doors share: a task's wire shape, the caller of a request, error shapes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_REQUEST, ClientCapabilities
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from kit_contracts.errors import problems
from mcp_server import constants as c
from mcp_server.caller import Caller, CallerContextError, Identity
from mcp_server.engine import views
from mcp_server.store.base import Progress, TaskRecord

RELATED_TASK_META = "io.modelcontextprotocol/related-task"
# tasks/get's `_meta`: which run of the task this is (1, then +1 per lost worker; hand-overs count none).
ATTEMPT_META = "io.agentkit/attempt"
REQUEST_KEY_META = "requestKey"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def progress_text(progress: float, total: float | None) -> str:
    """A progress report without a message of its own, as a status message: "40/100", or "40" with no total."""
    return f"{_number(progress)}/{_number(total)}" if total else _number(progress)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def status_message(record: TaskRecord, live: Progress | None = None) -> str | None:
    """What a task says about itself: a working task's latest progress (its message, else "40/100").

    `live` is a fresher report than the store's (the process running the task has it in memory).
    """
    if record.status != c.STATUS_WORKING:
        return record.status_message
    value, total, message = live or (record.progress, record.total, record.status_message)
    if message:
        return message
    return None if value is None else progress_text(value, total)


def task_wire(record: TaskRecord, poll_interval_ms: int, modern: bool, live: Progress | None = None) -> dict[str, Any]:
    """The task object of either era (2026 names its ttl and poll interval in `...Ms`)."""
    wire: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.wire_status,
        "createdAt": iso(record.created_at),
        "lastUpdatedAt": iso(max(record.updated_at, record.created_at)),
    }
    message = status_message(record, live)
    if message:
        wire["statusMessage"] = message
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


# The caller of the request being served (or why there is none), set once per request by Callers.
_request_caller: ContextVar[Caller | CallerContextError | None] = ContextVar("request_caller", default=None)


class Callers:
    """Resolves the caller of each request once (caller.Identity), and holds each stateful MCP session to one actor.

    A 2025-era session belongs to the actor of its first request: a request on it from anyone else
    is refused, so a session id that leaks does not carry its tasks or its open questions along.
    """

    def __init__(self, identity: Identity, max_sessions: int = 100_000) -> None:
        self.identity = identity
        # Mcp-Session-Id -> the actor who opened it; oldest dropped beyond max_sessions (the SDK
        # expires idle sessions long before: a dropped entry is re-bound by its next request).
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._max = max_sessions

    def opened(self, session_id: str, headers: Mapping[str, str]) -> None:
        """A session was just opened by a request with these headers: it belongs to that request's actor."""
        try:
            self._bind(session_id, self.identity.caller(headers).actor_id)
        except CallerContextError:
            pass  # nobody to hold it to yet: its first request with a caller binds it

    def closed(self, session_id: str) -> None:
        self._owners.pop(session_id, None)

    def _bind(self, session_id: str, actor: str) -> str:
        owner = self._owners.setdefault(session_id, actor)
        while len(self._owners) > self._max:
            self._owners.popitem(last=False)
        return owner

    def resolve(self, ctx: ServerRequestContext[Any, Any]) -> Caller | CallerContextError:
        """Resolve this request's caller for `current_caller` (the server middleware calls this first)."""
        try:
            found: Caller | CallerContextError = self._of(ctx)
        except CallerContextError as exc:
            found = exc
        _request_caller.set(found)
        return found

    def _of(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        headers = getattr(ctx.request, "headers", None)
        caller = self.identity.caller(headers)
        session_id = (headers or {}).get("mcp-session-id")
        if is_modern(ctx) or not session_id:
            return caller  # 2026-07-28 has no sessions: each request stands alone
        if self._bind(session_id, caller.actor_id) != caller.actor_id:
            raise CallerContextError(
                "refused: this MCP session was opened by another caller; open a session of your own (initialize)",
                authenticated=caller.actor_id,
            )
        return caller


def current_caller() -> Caller:
    """The authenticated caller of the request being served; CallerContextError naming what is missing."""
    found = _request_caller.get()
    if isinstance(found, CallerContextError):
        raise found
    if found is None:
        raise CallerContextError("no caller was resolved for this request")
    return found


def caller_refusal(exc: CallerContextError) -> MCPError:
    """The JSON-RPC error for a request without a usable caller context: -32600 naming the header.

    Every door answers it the same way (tasks/*, a task-capable tools/call, the plain task tools):
    the request, not its params, is what lacks the caller.
    """
    return MCPError(code=INVALID_REQUEST, message=str(exc), data={"header": exc.header} if exc.header else None)


def requester() -> Caller:
    """`current_caller`, or the JSON-RPC error `caller_refusal` says."""
    try:
        return current_caller()
    except CallerContextError as exc:
        raise caller_refusal(exc) from None


def validation_message(tool: str, exc: ValidationError) -> str:
    return f"invalid arguments for {tool}: {problems(exc, whole='(arguments)')}"


def error_result(message: str, modern: bool) -> dict[str, Any]:
    result = views.error_result(message)
    if modern:
        result["resultType"] = "complete"
    return result
