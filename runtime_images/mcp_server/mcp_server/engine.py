"""The durable task engine: creates tasks durably, runs them under a lease, recovers lost ones.

Work runs in the engine's own task group (started with the HTTP app), not in the
request that created it, so a client that disconnects or comes back in a new
session finds the task still running or finished. The store is the source of
truth; what this process holds in memory is only what it is currently running.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
    render_elicitation_schema,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ValidationError

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.logs import log_context, set_log_context
from mcp_server.metrics import TaskMetrics
from mcp_server.results_sink import ResultSink, question_event, result_event
from mcp_server.settings import Settings
from mcp_server.store.base import LeaseLost, NewTask, TaskRecord, TaskStore
from mcp_server.tooling import SchemaT, TaskCancelled, TaskContext, ToolSpec

logger = logging.getLogger(__name__)
T = TypeVar("T")

# JSON-RPC error codes carried in a failed task's `error`.
TOOL_FAILED = -32000
WORKER_LOST = -32001
DEADLINE_EXCEEDED = -32002
# A resumable task whose worker keeps dying is failed rather than re-run forever.
MAX_ATTEMPTS = 3
PURGE_EVERY_SECONDS = 60.0
# Without a total, progress is logged at most once per this interval.
PROGRESS_LOG_SECONDS = 60.0
# An answer that does not fit the question's schema is asked again, this many times in all.
MAX_INPUT_ATTEMPTS = 3


class TaskListener(Protocol):
    """Told of running tasks' progress and terminal transitions (e.g. to push them to a live connection).

    Called on the event loop; must not block.
    """

    def progressed(self, task_id: str, progress: float, total: float | None, message: str | None) -> None: ...

    def ended(self, record: TaskRecord) -> None: ...

    def status_changed(self, record: TaskRecord) -> None:
        """A running task started or stopped waiting for its caller's answer."""


Asker = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class DurableContext(TaskContext):
    def __init__(self, task_id: str, attempt: int, on_update: Callable[[], None], ask: Asker | None = None) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self._on_update = on_update
        self._ask = ask
        self._asking = anyio.Lock()  # one open question per task: a second elicit waits for the first
        self.waiting_for_input = False
        self._progress: tuple[float, float | None, str | None] | None = None
        self._dirty = False
        self._cancelled = False
        self._logged_stage: int | None = None

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        # Recorded here, written by the lease loop: a tool may report far more often
        # than the store should be written.
        self._progress = (float(progress), None if total is None else float(total), message)
        self._log_stage(float(progress), total)
        self._dirty = True
        self._on_update()
        await anyio.sleep(0)

    def _log_stage(self, progress: float, total: float | None) -> None:
        """Log the first report, then each quarter reached (each minute when there is no total).

        A few lines per task however often the tool reports. Numbers only: the progress
        message is the tool's own text and may quote its input.
        """
        stage = int(4 * progress / total) if total else int(time.monotonic() // PROGRESS_LOG_SECONDS)
        if stage != self._logged_stage:
            self._logged_stage = stage
            logger.info("task progress", extra={"progress": progress, "total": total})

    async def elicit(self, message: str, schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
        if self._ask is None:
            return await super().elicit(message, schema)
        requested = render_elicitation_schema(schema)
        question = message
        for _ in range(MAX_INPUT_ATTEMPTS):
            async with self._asking:
                # Cleared only when an answer came: if the deadline cancels the wait, the
                # engine's failure message can still say what the work was doing.
                self.waiting_for_input = True
                answer = await self._ask(question, requested)
                self.waiting_for_input = False
            if answer.get("action") == "decline":
                return DeclinedElicitation()
            if answer.get("action") == "cancel":
                return CancelledElicitation()
            try:
                return AcceptedElicitation(data=schema.model_validate(answer.get("content") or {}))
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'content'}: {e['msg']}" for e in exc.errors())
                question = f"That answer did not fit ({problems}). {message}"
        raise ToolError(f"no answer that fits after {MAX_INPUT_ATTEMPTS} attempts to ask: {message}")

    def take_progress(self) -> tuple[float, float | None, str | None] | None:
        self._dirty = False
        return self._progress

    @property
    def last_progress(self) -> tuple[float, float | None, str | None] | None:
        return self._progress

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def mark_cancelled(self) -> None:
        self._cancelled = True


@dataclass
class _Running:
    scope: anyio.CancelScope
    ctx: DurableContext
    owner: str
    last_renew: float
    lost: str | None = None
    session: str | None = None


class TaskEngine:
    def __init__(
        self,
        store: TaskStore,
        sink: ResultSink,
        settings: Settings,
        specs: Mapping[str, ToolSpec],
        tools: Mapping[str, Tool],
        metrics: TaskMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or TaskMetrics(settings.environment)
        self.sink = sink
        self.settings = settings
        self.specs = dict(specs)
        self.tools = tools  # filled by the caller once the tools exist (they refer back to the engine)
        self.listeners: list[TaskListener] = []
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.last_update = time.time()
        self._running: dict[str, _Running] = {}
        # Running tasks of this process waiting for an answer: set when one arrives here.
        self._answered: dict[str, anyio.Event] = {}
        self._in_request = 0
        self._tg: TaskGroup | None = None

    # ------------------------------------------------------------------ lifecycle
    @asynccontextmanager
    async def running(self) -> AsyncIterator[TaskEngine]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._sweep_forever)
            tg.start_soon(self._renew_forever)
            try:
                yield self
            finally:
                self._tg = None
                tg.cancel_scope.cancel()
        self.store.close()

    @property
    def busy(self) -> bool:
        return bool(self._running) or self._in_request > 0

    @asynccontextmanager
    async def in_request_work(self) -> AsyncIterator[None]:
        """Counts tier-1 work, so /ping reports HealthyBusy for it too."""
        self._in_request += 1
        self.touch()
        try:
            yield
        finally:
            self._in_request -= 1
            self.touch()

    @property
    def running_count(self) -> int:
        return len(self._running)

    def touch(self) -> None:
        self.last_update = time.time()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Store and sink calls block (sqlite3, boto3): keep them off the event loop.
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ API used by the protocol layer
    def validate(self, tool_name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate arguments before anything is stored; raises pydantic.ValidationError."""
        return self.tools[tool_name].fn_metadata.validate_arguments(arguments)

    async def create(
        self,
        caller: Caller,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        ttl_seconds: int | None = None,
        request_key: str | None = None,
    ) -> TaskRecord:
        """Store the task, then start it; returns only once the task is durable."""
        spec = self.specs[tool_name]
        self.validate(tool_name, arguments)
        ttl = min(ttl_seconds or self.settings.default_ttl_seconds, self.settings.max_ttl_seconds)
        new = NewTask(
            task_id=str(uuid.uuid4()),
            owner=caller.actor_id,
            session_id=caller.session_id,
            memory_id=caller.memory_id,
            tool=tool_name,
            arguments=arguments,
            ttl_seconds=max(ttl, 1),
            worker_id=self.worker_id,
            resumable=spec.resumable,
            request_key=request_key,
        )
        record, created = await self._call(self.store.create, new, time.time(), self.settings.lease_seconds)
        if created:
            with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=tool_name):
                logger.info("task created", extra={"ttl_seconds": record.ttl_seconds})
            self.metrics.started(record.task_id, tool_name)
            self._spawn(record)
        return record

    async def get(self, caller: Caller, task_id: str) -> TaskRecord | None:
        return await self._read(task_id, caller.actor_id)

    async def list_tasks(self, caller: Caller, limit: int = 50) -> list[TaskRecord]:
        if self.store.reads_inline:
            return self.store.list_by_owner(caller.actor_id, time.time(), limit)
        return await self._call(self.store.list_by_owner, caller.actor_id, time.time(), limit)

    async def provide_input(self, caller: Caller, task_id: str, responses: dict[str, Any]) -> TaskRecord | None:
        """Record answers to a task's open questions; None if it is not the caller's or not waiting for them."""
        record = await self._call(self.store.provide_input, task_id, caller.actor_id, time.time(), responses)
        if record is not None:
            with log_context(task_id=task_id, actor=caller.actor_id):
                logger.info("task input provided", extra={"answers": len(responses)})
            waiter = self._answered.get(task_id)
            if waiter is not None:  # the work runs here: wake it now rather than at its next look
                waiter.set()
        return record

    async def cancel(self, caller: Caller, task_id: str) -> TaskRecord | None:
        before = await self.get(caller, task_id)
        if before is None or before.status in c.TERMINAL_STATUSES:
            return before
        now = time.time()
        record = await self._call(
            self.store.cancel,
            task_id,
            caller.actor_id,
            now,
            "cancelled by the caller",
            publish_after=now + self.settings.lease_seconds,
        )
        running = self._running.get(task_id)
        if running is not None:
            # Work in this process stops now; elsewhere it stops at its next lease renewal.
            running.lost = c.STATUS_CANCELLED
            running.ctx.mark_cancelled()
            running.scope.cancel()
        if record is not None and record.status == c.STATUS_CANCELLED:
            # updated_at is exactly `now` only if this call's conditional update applied:
            # a concurrent canceller also sees "cancelled" but must not count it again.
            if record.updated_at == now:
                self._ended(record)
            self.touch()
            await self._publish(record)
        return record

    # ------------------------------------------------------------------ running work
    def _spawn(self, record: TaskRecord) -> None:
        if self._tg is None:
            raise RuntimeError("the task engine is not running")
        self._tg.start_soon(self._run, record)

    async def _run(self, record: TaskRecord) -> None:
        # This coroutine is its own asyncio task: the context set here is the task's alone.
        set_log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool)
        logger.info("task running", extra={"attempt": record.attempts})
        spec = self.specs[record.tool]
        tool = self.tools[record.tool]
        ctx = DurableContext(
            record.task_id,
            record.attempts,
            lambda: self._progressed(ctx),
            lambda message, requested: self._ask(record, message, requested),
        )
        running = _Running(
            anyio.CancelScope(), ctx, record.owner, last_renew=time.monotonic(), session=record.session_id
        )
        self._running[record.task_id] = running
        self.touch()
        outcome: tuple[str, dict[str, Any] | None, dict[str, Any] | None, str | None] | None = None
        try:
            with running.scope:
                outcome = await self._execute(spec, tool, record, ctx)
        finally:
            self._running.pop(record.task_id, None)
            self.touch()
        if running.lost is None and outcome is not None:
            status, result, error, message = outcome
            await self._finish(record.task_id, status, result=result, error=error, message=message)

    async def _execute(
        self, spec: ToolSpec, tool: Tool, record: TaskRecord, ctx: DurableContext
    ) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None, str | None]:
        try:
            with anyio.fail_after(spec.max_duration_seconds):
                validated = tool.fn_metadata.validate_arguments(record.arguments)
                value = await tool.fn_metadata.call_fn(spec.fn, True, validated, {spec.context_param: ctx})
                result = tool.fn_metadata.convert_result(value)
        except TimeoutError:
            message = f"{spec.name} exceeded its maximum duration of {spec.max_duration_seconds:g} s and was cancelled"
            if ctx.waiting_for_input:
                message += " while waiting for an answer to its question"
            return c.STATUS_FAILED, None, {"code": DEADLINE_EXCEEDED, "message": message}, message
        except TaskCancelled as exc:
            return c.STATUS_CANCELLED, None, None, str(exc)
        except Exception as exc:  # the tool's own failure becomes the task's outcome
            # The type only: the message may quote the arguments; it is in the task's error.
            logger.info("task tool raised", extra={"error_type": type(exc).__name__})
            message = f"{spec.name} failed: {exc}"
            return c.STATUS_FAILED, None, {"code": TOOL_FAILED, "message": message}, message
        return (
            c.STATUS_COMPLETED,
            result.model_dump(by_alias=True, mode="json", exclude_none=True),
            None,
            None,
        )

    async def _ask(self, record: TaskRecord, message: str, requested_schema: dict[str, Any]) -> dict[str, Any]:
        """Store one question for the caller and wait for its answer, from this process or any other."""
        key = uuid.uuid4().hex[:16]
        request = {
            "method": "elicitation/create",
            "params": {"mode": "form", "message": message, "requestedSchema": requested_schema},
        }
        try:
            asked = await self._call(
                self.store.request_input, record.task_id, self.worker_id, time.time(), {key: request}
            )
        except LeaseLost:
            raise TaskCancelled("the task ended before its question was asked") from None
        logger.info("task waiting for input")
        self.touch()
        self._status_changed(asked)
        await self._tell_memory_of_question(record, key, message)
        look_every = max(self.settings.poll_interval_ms / 1000, 0.05)
        try:
            while True:
                answered = self._answered[record.task_id] = anyio.Event()
                with anyio.move_on_after(look_every):
                    await answered.wait()
                try:
                    current = await self._read(record.task_id, record.owner)
                except Exception:
                    # A transient store error: keep waiting (a lost lease stops the work anyway).
                    logger.exception("reading the task for its answer failed; will look again")
                    continue
                if current is None or current.status in c.TERMINAL_STATUSES:
                    raise TaskCancelled("the task ended while waiting for input")
                answer = (current.input_responses or {}).get(key)
                if answer is not None:
                    break
        finally:
            self._answered.pop(record.task_id, None)
        try:
            cleared = await self._call(self.store.clear_input, record.task_id, self.worker_id, time.time())
        except LeaseLost:
            raise TaskCancelled("the task ended while taking its answer") from None
        logger.info("task input received", extra={"action": answer.get("action")})
        self.touch()
        self._status_changed(cleared)
        return dict(answer)

    def _status_changed(self, record: TaskRecord) -> None:
        """Tell listeners (live 2025 sessions) that the task started or stopped waiting for an answer."""
        for listener in self.listeners:
            listener.status_changed(record)

    async def _tell_memory_of_question(self, record: TaskRecord, key: str, message: str) -> None:
        """One event per question in the caller's results session: a returning user's agent sees it waiting.

        Best effort: the question itself is in the task store, which every status call reads.
        """
        if record.memory_id is None:
            return
        try:
            await self._call(self.sink.write, question_event(record, record.memory_id, key, message, time.time()))
        except Exception:
            logger.exception("task question event not written")

    async def _read(self, task_id: str, owner: str) -> TaskRecord | None:
        if self.store.reads_inline:
            return self.store.get(task_id, owner, time.time())
        return await self._call(self.store.get, task_id, owner, time.time())

    async def _renew_forever(self) -> None:
        """One writer renews every running task's lease and records its progress.

        Batched: with hundreds of tasks a writer per task would queue store calls
        (and, on SQLite, commits) in front of the creates and reads callers wait for.
        """
        settings = self.settings
        renew_every = settings.lease_seconds / 3
        wake_every = min(renew_every, max(settings.progress_write_seconds, 0.05))
        while True:
            await anyio.sleep(wake_every)
            now = time.monotonic()
            batch = [
                (task_id, running)
                for task_id, running in list(self._running.items())
                if running.lost is None and (running.ctx.dirty or now - running.last_renew >= renew_every)
            ]
            if not batch:
                continue
            items = [
                (task_id, running.ctx.take_progress() if running.ctx.dirty else None) for task_id, running in batch
            ]
            try:
                lost = set(
                    await self._call(
                        self.store.heartbeat_many, self.worker_id, time.time(), settings.lease_seconds, items
                    )
                )
            except Exception:
                # A transient store error: the work goes on; the lease has slack for a few misses.
                logger.exception("lease renewal of %d tasks failed", len(batch))
                continue
            for task_id, running in batch:
                if task_id in lost:
                    await self._stop_lost(task_id, running)
                else:
                    running.last_renew = now

    async def _stop_lost(self, task_id: str, running: _Running) -> None:
        current = await self._call(self.store.get, task_id, running.owner, time.time())
        running.lost = current.status if current is not None else "gone"
        running.ctx.mark_cancelled()
        with log_context(task_id=task_id, actor=running.owner, session=running.session):
            logger.info("task lease lost (%s); stopping its work", running.lost)
        running.scope.cancel()

    async def _finish(
        self,
        task_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        now = time.time()
        try:
            record = await self._call(
                self.store.finish,
                task_id,
                self.worker_id,
                status,
                now,
                result=result,
                error=error,
                message=message,
                publish_after=now + self.settings.lease_seconds,
            )
        except LeaseLost:
            return  # cancelled or taken over meanwhile: whoever ended it published it
        self._ended(record)
        self.touch()
        await self._publish(record)

    def _progressed(self, ctx: DurableContext) -> None:
        self.touch()
        if ctx.last_progress is not None:
            for listener in self.listeners:
                listener.progressed(ctx.task_id, *ctx.last_progress)

    def _ended(self, record: TaskRecord) -> None:
        """Log and count one terminal transition; called only by the caller that applied it."""
        duration = record.updated_at - record.created_at
        with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
            logger.info(
                "task %s",
                record.status,
                extra={"status": record.status, "duration_seconds": round(duration, 3), "attempts": record.attempts},
            )
        self.metrics.finished(record.task_id, record.tool, record.status, duration)
        for listener in self.listeners:
            listener.ended(record)

    async def _publish(self, record: TaskRecord) -> None:
        """Write the terminal event, then clear the task's publication due date.

        A process that dies before clearing it leaves the publication overdue, and the
        sweeper of any server writes it again: the client token keeps that to one event.
        """
        for attempt in range(3):
            try:
                if record.memory_id is not None:
                    await self._call(self.sink.write, result_event(record, record.memory_id))
                await self._call(self.store.mark_published, record.task_id)
                return
            except Exception:
                with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id):
                    logger.exception("task result event not written (attempt %d)", attempt + 1)
                await anyio.sleep(0.5 * 2**attempt)

    async def republish_overdue(self) -> int:
        """Write the result events that a stopped process finished but never published."""
        now = time.time()
        done = 0
        for record in await self._call(self.store.unpublished, now):
            claimed = await self._call(self.store.claim_publish, record.task_id, now, now + self.settings.lease_seconds)
            if claimed:
                await self._publish(record)
                done += 1
        return done

    # ------------------------------------------------------------------ recovery
    async def _sweep_forever(self) -> None:
        last_purge = 0.0
        while True:
            try:
                await self.recover_lost()
                await self.republish_overdue()
                if time.monotonic() - last_purge >= PURGE_EVERY_SECONDS:
                    purged = await self._call(self.store.purge_expired, time.time())
                    last_purge = time.monotonic()
                    if purged:
                        logger.info("purged %d expired tasks", purged)
            except Exception:
                logger.exception("task sweep failed")
            await anyio.sleep(self.settings.sweep_seconds)

    async def recover_lost(self) -> int:
        """Fail (or re-run, if resumable) tasks whose worker stopped renewing its lease."""
        now = time.time()
        recovered = 0
        for record in await self._call(self.store.expired_leases, now):
            if record.task_id in self._running or record.lease_owner is None:
                continue
            taken = await self._call(
                self.store.take_over,
                record.task_id,
                record.lease_owner,
                self.worker_id,
                now,
                self.settings.lease_seconds,
            )
            if not taken:
                continue  # another server instance got there first
            recovered += 1
            # Counted here, once: only one sweeper's conditional take-over succeeds.
            self.metrics.lost_worker_recovered(record.task_id, record.tool)
            spec = self.specs.get(record.tool)
            rerun = spec is not None and spec.resumable and record.attempts < MAX_ATTEMPTS
            with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
                logger.warning(
                    "task worker lost; %s",
                    "re-running" if rerun else "failing it",
                    extra={"lost_worker": record.lease_owner, "attempt": record.attempts},
                )
            if rerun:
                record.attempts += 1
                record.lease_owner = self.worker_id
                self._spawn(record)
                continue
            reason = (
                f"worker lost: the server process running this task stopped (its lease expired) after "
                f"{record.attempts} attempt(s); "
                + ("the tool is not resumable, so it was not re-run" if not (spec and spec.resumable) else "giving up")
            )
            await self._finish(
                record.task_id,
                c.STATUS_FAILED,
                error={"code": WORKER_LOST, "message": reason},
                message=reason,
            )
        return recovered
