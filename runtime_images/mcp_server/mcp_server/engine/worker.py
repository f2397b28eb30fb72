"""Runs durable tasks in this process: each under a lease, with its deadline, progress and questions.

Work runs in the engine's own task group (started with the HTTP app), not in the request
that created it, so a client that disconnects or comes back in a new session finds the
task still running or finished. The store is the source of truth; what this module holds
in memory is only what this process is running now.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup
from mcp.shared.exceptions import MCPError

from mcp_server import constants as c
from mcp_server.engine import views
from mcp_server.engine.activity import Activity
from mcp_server.engine.blocking import blocking, store_read
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.context import DurableContext
from mcp_server.engine.leases import Leases, Running
from mcp_server.engine.outcomes import Outcomes
from mcp_server.engine.questions import input_request
from mcp_server.engine.views import DEADLINE_EXCEEDED, protocol_error
from mcp_server.logs import set_log_context
from mcp_server.result_blobs import ResultBlobs, scratch_key
from mcp_server.settings import Settings
from mcp_server.store.base import LeaseLost, Progress, TaskRecord, TaskStore
from mcp_server.tooling import TaskCancelled, TaskParked

logger = logging.getLogger(__name__)
# (status, result, error, message) of a run that ended here.
Ending = tuple[str, dict[str, Any] | None, dict[str, Any] | None, str | None]


@dataclass(frozen=True)
class Parked:
    """A run that ended in a durable sleep: the task waits, leaseless, until `until`."""

    until: float


@dataclass(frozen=True)
class TaskFiles:
    """A task's scratch files in the result blobs (beside its result, expiring with it)."""

    blobs: ResultBlobs
    owner: str
    task_id: str

    async def store(self, name: str, data: bytes) -> None:
        await blocking(self.blobs.put_key, scratch_key(self.owner, self.task_id, name), data)

    async def load(self, name: str) -> bytes | None:
        try:
            return await blocking(self.blobs.read_key, scratch_key(self.owner, self.task_id, name))
        except FileNotFoundError:
            return None


class Worker:
    def __init__(
        self,
        store: TaskStore,
        catalog: ToolCatalog,
        settings: Settings,
        outcomes: Outcomes,
        activity: Activity,
        worker_id: str,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.outcomes = outcomes
        self.activity = activity
        self.worker_id = worker_id
        self._running: dict[str, Running] = {}
        # Running tasks of this process waiting for an answer: set when one arrives here.
        self._answered: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        self.leases = Leases(store, settings, worker_id, self._running)

    def attach(self, tg: TaskGroup | None) -> None:
        """The task group runs spawned work; None once the engine stops."""
        self._tg = tg

    @property
    def running_count(self) -> int:
        return len(self._running)

    def is_running(self, task_id: str) -> bool:
        return task_id in self._running

    def live_progress(self, task_id: str) -> tuple[Progress, float] | None:
        """The latest progress report of a task running here and when it was made (None: none here yet)."""
        running = self._running.get(task_id)
        if running is None or running.ctx.last_progress is None or running.ctx.reported_at is None:
            return None
        return running.ctx.last_progress, running.ctx.reported_at

    def spawn(self, record: TaskRecord) -> None:
        """Run a task this worker holds the lease of."""
        if self._tg is None:
            raise RuntimeError("the task engine is not running")
        self._tg.start_soon(self._run, record)

    def stop(self, task_id: str, why: str) -> None:
        """Stop the work of a task that ended elsewhere (cancelled by its caller); no-op if not running here."""
        running = self._running.get(task_id)
        if running is not None:
            running.lost = why
            running.ctx.mark_cancelled()
            running.scope.cancel()

    def wake(self, task_id: str) -> None:
        """An answer to the task's question was stored: if the work waits here, look now."""
        waiter = self._answered.get(task_id)
        if waiter is not None:
            waiter.set()

    # ------------------------------------------------------------------ one run
    async def _run(self, record: TaskRecord) -> None:
        # This coroutine is its own asyncio task: the context set here is the task's alone.
        set_log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool)
        logger.info("task running", extra={"attempt": record.attempts})

        def progressed() -> None:
            if ctx.last_progress is not None:
                self.outcomes.progressed(ctx.task_id, *ctx.last_progress)

        async def ask(questions: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
            return await self._ask(record, questions)

        ctx = DurableContext(
            record.task_id,
            record.attempts,
            progressed,
            ask,
            resume_state=record.checkpoint,
            progress=None if record.progress is None else (record.progress, record.total, record.status_message),
            files=None if self.outcomes.blobs is None else TaskFiles(self.outcomes.blobs, record.owner, record.task_id),
            park_after=self.settings.park_after_seconds if record.resumable else None,
        )
        running = Running(
            anyio.CancelScope(),
            ctx,
            record.owner,
            last_renew=time.monotonic(),
            session=record.session_id,
            resumable=record.resumable,
        )
        self._running[record.task_id] = running
        ending: Ending | None = None
        # Nothing may escape this coroutine: it runs in the engine's task group, and an exception
        # there would stop every task and the server with them. A fault ends this task only.
        try:
            with self.activity.working():
                try:
                    with running.scope:
                        ending = await self._execute(record, ctx)
                finally:
                    self._running.pop(record.task_id, None)
            if running.lost is None and isinstance(ending, Parked):
                await self._park(record, ctx, ending.until)
            elif running.lost is None and ending is not None:
                status, result, error, message = ending
                await self.outcomes.finish(
                    record,
                    self.worker_id,
                    status,
                    result=result,
                    error=error,
                    message=message,
                    progress=ctx.last_progress,
                )
        except Exception as exc:
            await self.outcomes.fault(record, self.worker_id, "finished", exc)

    async def _park(self, record: TaskRecord, ctx: DurableContext, until: float) -> None:
        """A durable sleep: free the lease until `until`, with the last progress and checkpoint kept."""
        value, total, _ = ctx.last_progress or (record.progress or 0.0, record.total, None)
        waiting = (value, total, f"sleeping until {datetime.fromtimestamp(until, tz=UTC).isoformat()}")
        parked = await blocking(
            self.store.release,
            record.task_id,
            self.worker_id,
            time.time(),
            until=until,
            progress=waiting,
            checkpoint=ctx.take_checkpoint(),
        )
        logger.info("task parked" if parked else "task ended before it could park", extra={"until": until})

    async def _execute(self, record: TaskRecord, ctx: DurableContext) -> Ending | Parked:
        spec = self.catalog.spec(record.tool)
        try:
            with anyio.fail_after(spec.max_duration_seconds):
                result = await self.catalog.call(record.tool, record.arguments, ctx)
        except TaskParked as parked:
            return Parked(parked.until)
        except TimeoutError:
            message = f"{spec.name} exceeded its maximum duration of {spec.max_duration_seconds:g} s and was cancelled"
            if ctx.waiting_for_input:
                message += " while waiting for an answer to its question"
            return c.STATUS_FAILED, None, {"code": DEADLINE_EXCEEDED, "message": message}, message
        except TaskCancelled as exc:
            return c.STATUS_CANCELLED, None, None, str(exc)
        except MCPError as exc:  # a protocol error the tool raised: the task failed
            logger.info("task tool raised a protocol error", extra={"code": exc.error.code})
            return c.STATUS_FAILED, None, protocol_error(exc), f"{spec.name} failed: {exc.error.message}"
        except Exception as exc:  # the tool's own error: the task completed, its result says so
            # The type only: the message may quote the arguments; it is in the task's result.
            logger.info("task tool raised", extra={"error_type": type(exc).__name__})
            message = f"{spec.name} failed: {exc}"
            return c.STATUS_COMPLETED, views.error_result(message), None, message
        return c.STATUS_COMPLETED, result, None, None

    async def _ask(
        self, record: TaskRecord, questions: dict[str, tuple[str, dict[str, Any]]]
    ) -> dict[str, dict[str, Any]]:
        """Store questions (label -> (message, schema)) together and wait for every answer, from this
        process or any other; the answers by label. Partial answers keep the task input_required."""
        # Server-minted keys, never reused within the task (SEP-2663); the tool's labels ride in _meta.
        keys = {label: uuid.uuid4().hex[:16] for label in questions}
        requests = {
            keys[label]: input_request(label, message, schema) for label, (message, schema) in questions.items()
        }
        try:
            asked = await blocking(self.store.request_input, record.task_id, self.worker_id, time.time(), requests)
        except LeaseLost:
            raise TaskCancelled("the task ended before its question was asked") from None
        logger.info("task waiting for input", extra={"questions": len(requests)})
        self.outcomes.status_changed(asked)
        for label, (message, _) in questions.items():
            await self.outcomes.tell_question(record, keys[label], message)
        look_every = max(self.settings.poll_interval_ms / 1000, 0.05)
        seen = 0
        try:
            while True:
                answered = self._answered[record.task_id] = anyio.Event()
                with anyio.move_on_after(look_every):
                    await answered.wait()
                try:
                    current = await self._read(record)
                except Exception:
                    # A transient store error: keep waiting (a lost lease stops the work anyway).
                    logger.exception("reading the task for its answer failed; will look again")
                    continue
                if current is None or current.status in c.TERMINAL_STATUSES:
                    raise TaskCancelled("the task ended while waiting for input")
                responses = current.input_responses or {}
                if all(key in responses for key in requests):
                    break
                if len(responses) != seen:  # a partial answer: still input_required, one fewer question
                    seen = len(responses)
                    self.outcomes.status_changed(current)
        finally:
            self._answered.pop(record.task_id, None)
        try:
            cleared = await blocking(self.store.clear_input, record.task_id, self.worker_id, time.time())
        except LeaseLost:
            raise TaskCancelled("the task ended while taking its answer") from None
        logger.info("task input received", extra={"actions": sorted({a.get("action") for a in responses.values()})})
        self.outcomes.status_changed(cleared)
        return {label: dict(responses[key]) for label, key in keys.items()}

    async def _read(self, record: TaskRecord) -> TaskRecord | None:
        return await store_read(self.store, self.store.get, record.task_id, record.owner, time.time())
