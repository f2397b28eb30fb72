"""Tier 1: run an engine tool inside the tools/call request, kept alive and bounded."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
    render_elicitation_schema,
)
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError, NoBackChannelError
from pydantic import BaseModel, ValidationError

from kit_contracts.errors import problems
from mcp_server.engine.questions import Question, merge
from mcp_server.tooling import SchemaT, TaskCancelled, TaskContext, ToolSpec, check_question_keys

NO_BACK_CHANNEL = (
    "this tool asks for input while it runs: call it as a task (its questions then arrive as "
    "input_required), or from a client session that accepts elicitation"
)


class RequestContext(TaskContext):
    """Progress goes straight to the caller as notifications/progress."""

    def __init__(self, mcp_ctx: Context[Any, Any]) -> None:
        self._mcp_ctx = mcp_ctx
        self._last: tuple[float, float | None] = (0.0, None)
        self.last_sent = time.monotonic()
        self.started = time.monotonic()

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self._last = (float(progress), None if total is None else float(total))
        self.last_sent = time.monotonic()
        await self._mcp_ctx.report_progress(progress, total, message)

    async def heartbeat(self) -> None:
        # Repeats the last progress value: the connection (and any proxy on it) sees
        # traffic, the caller sees how long the work has run.
        progress, total = self._last
        self.last_sent = time.monotonic()
        elapsed = int(time.monotonic() - self.started)
        await self._mcp_ctx.report_progress(progress, total, f"still working ({elapsed} s elapsed)")

    async def elicit(self, message: str, schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
        try:
            return await self._mcp_ctx.elicit(message, schema)
        except NoBackChannelError:
            raise ToolError(NO_BACK_CHANNEL) from None

    async def elicit_many(
        self, questions: Mapping[str, tuple[str, type[BaseModel]]]
    ) -> dict[str, ElicitationResult[Any]]:
        """One elicitation whose form has every question's fields; its answer split back per question."""
        check_question_keys(questions)
        if len(questions) == 1:
            return await super().elicit_many(questions)
        merged = merge(
            {
                key: Question(key, key, message, render_elicitation_schema(schema))
                for key, (message, schema) in questions.items()
            }
        )
        try:
            asked = await self._mcp_ctx.request_context.session.elicit_form(
                message=merged.message,
                requested_schema=merged.requested_schema,
                related_request_id=self._mcp_ctx.request_id,
            )
        except NoBackChannelError:
            raise ToolError(NO_BACK_CHANNEL) from None
        parts = merged.split(asked.model_dump(mode="json", exclude_none=True, include={"action", "content"}))
        results: dict[str, ElicitationResult[Any]] = {}
        for key, (_, schema) in questions.items():
            part = parts[key]
            if part.get("action") == "accept":
                try:
                    results[key] = AcceptedElicitation(data=schema.model_validate(part.get("content") or {}))
                except ValidationError as exc:
                    raise ToolError(f"the answer to {key!r} did not fit: {problems(exc, whole='content')}") from None
            else:
                results[key] = CancelledElicitation() if part.get("action") == "cancel" else DeclinedElicitation()
        return results

    @property
    def cancelled(self) -> bool:
        # A cancelled request cancels this coroutine itself; there is no flag to poll.
        return False


async def run_in_request(
    spec: ToolSpec, kwargs: dict[str, Any], mcp_ctx: Context[Any, Any], heartbeat_seconds: float
) -> Any:
    if spec.mode == "task":
        raise ToolError(
            f"{spec.name} runs only as a durable task: call it with task augmentation "
            f"or use start_{spec.name}, then check_task_status/get_task_result"
        )
    ctx = RequestContext(mcp_ctx)

    async def keep_alive() -> None:
        while True:
            wait = heartbeat_seconds - (time.monotonic() - ctx.last_sent)
            if wait > 0:
                await anyio.sleep(wait)
                continue
            await ctx.heartbeat()

    failure: str | None = None
    raised: Exception | None = None
    result: Any = None
    # Errors are raised after the task group closes: raised inside it they would reach
    # the SDK wrapped in an ExceptionGroup and be reported as an unexpected crash.
    async with anyio.create_task_group() as tg:
        tg.start_soon(keep_alive)
        try:
            with anyio.fail_after(spec.max_duration_seconds):
                result = await spec.fn(**kwargs, **{spec.context_param: ctx})
        except TimeoutError:
            failure = (
                f"{spec.name} exceeded its maximum duration of {spec.max_duration_seconds:g} s"
                " and was cancelled; "
                "for longer work call it as a task"
            )
        except TaskCancelled as exc:
            failure = f"{spec.name} was cancelled: {exc}"
        except (ToolError, MCPError) as exc:  # the tool's own words, or a protocol error, as it raised them
            raised = exc
        except Exception as exc:
            # Said as a durable task says it: the SDK would otherwise hide the message ("Error
            # executing tool ...") and the caller would not learn what to fix.
            raised = ToolError(f"{spec.name} failed: {exc}")
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise ToolError(failure)
    if raised is not None:
        raise raised
    return result
