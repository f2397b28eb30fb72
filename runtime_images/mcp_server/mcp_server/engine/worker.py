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
from typing import Any

import anyio
from anyio.abc import TaskGroup

from mcp_server import constants as c
from mcp_server.engine.activity import Activity
from mcp_server.engine.blocking import blocking
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.context import DurableContext
from mcp_server.engine.outcomes import Outcomes
from mcp_server.engine.views import DEADLINE_EXCEEDED, TOOL_FAILED
from mcp_server.logs import log_context, set_log_context
from mcp_server.settings import Settings
from mcp_server.store.base import LeaseLost, TaskRecord, TaskStore
from mcp_server.tooling import TaskCancelled

logger = logging.getLogger(__name__)
# (status, result, error, message) of a run that ended here.
Ending = tuple[str, dict[str, Any] | None, dict[str, Any] | None, str | None]


@dataclass
class _Running:
    scope: anyio.CancelScope
    ctx: DurableContext
    owner: str
    last_renew: float
    lost: str | None = None
    session: str | None = None
    resumable: bool = False


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
        self._running: dict[str, _Running] = {}
        # Running tasks of this process waiting for an answer: set when one arrives here.
        self._answered: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        # When lease renewals began failing (None while they succeed): the engine's health.
        self.store_failing_since: float | None = None

    def attach(self, tg: TaskGroup | None) -> None:
        """The task group runs spawned work; None once the engine stops."""
        self._tg = tg

    @property
    def running_count(self) -> int:
        return len(self._running)

    def is_running(self, task_id: str) -> bool:
        return task_id in self._running

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

    async def hand_over_resumable(self) -> int:
        """Release every resumable task running here (this session ends soon); another session continues it.

        The work here stops without finishing; the task stays `working`, free for the next take-over.
        """
        handed = 0
        for task_id, running in list(self._running.items()):
            if not running.resumable or running.lost is not None:
                continue
            try:
                released = await blocking(self.store.release, task_id, self.worker_id, time.time())
            except Exception:
                logger.exception("releasing a task for hand-over failed; its lease runs out instead")
                continue
            running.lost = "handed over" if released else "lost"
            running.ctx.mark_cancelled()
            running.scope.cancel()
            handed += int(released)
        return handed

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

        async def ask(message: str, requested: dict[str, Any]) -> dict[str, Any]:
            return await self._ask(record, message, requested)

        ctx = DurableContext(record.task_id, record.attempts, progressed, ask)
        running = _Running(
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
            if running.lost is None and ending is not None:
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

    async def _execute(self, record: TaskRecord, ctx: DurableContext) -> Ending:
        spec = self.catalog.spec(record.tool)
        try:
            with anyio.fail_after(spec.max_duration_seconds):
                result = await self.catalog.call(record.tool, record.arguments, ctx)
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
        return c.STATUS_COMPLETED, result, None, None

    async def _ask(self, record: TaskRecord, message: str, requested_schema: dict[str, Any]) -> dict[str, Any]:
        """Store one question for the caller and wait for its answer, from this process or any other."""
        key = uuid.uuid4().hex[:16]
        request = {
            "method": "elicitation/create",
            "params": {"mode": "form", "message": message, "requestedSchema": requested_schema},
        }
        try:
            asked = await blocking(
                self.store.request_input, record.task_id, self.worker_id, time.time(), {key: request}
            )
        except LeaseLost:
            raise TaskCancelled("the task ended before its question was asked") from None
        logger.info("task waiting for input")
        self.outcomes.status_changed(asked)
        await self.outcomes.tell_question(record, key, message)
        look_every = max(self.settings.poll_interval_ms / 1000, 0.05)
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
                answer = (current.input_responses or {}).get(key)
                if answer is not None:
                    break
        finally:
            self._answered.pop(record.task_id, None)
        try:
            cleared = await blocking(self.store.clear_input, record.task_id, self.worker_id, time.time())
        except LeaseLost:
            raise TaskCancelled("the task ended while taking its answer") from None
        logger.info("task input received", extra={"action": answer.get("action")})
        self.outcomes.status_changed(cleared)
        return dict(answer)

    async def _read(self, record: TaskRecord) -> TaskRecord | None:
        if self.store.reads_inline:
            return self.store.get(record.task_id, record.owner, time.time())
        return await blocking(self.store.get, record.task_id, record.owner, time.time())

    # ------------------------------------------------------------------ leases
    async def renew_forever(self) -> None:
        """One writer renews every running task's lease and records its progress.

        Batched: with hundreds of tasks a writer per task would queue store calls
        (and, on SQLite, commits) in front of the creates and reads callers wait for.
        """
        settings = self.settings
        renew_every = settings.lease_seconds / 3
        wake_every = min(renew_every, max(settings.progress_write_seconds, 0.05))
        while True:
            await anyio.sleep(wake_every)
            try:
                await self._renew_once(renew_every)
            except Exception:
                # Supervised: one bad round (a store outage, a listener bug) is logged, not fatal.
                logger.exception("lease renewal round failed; the next one runs as usual")

    async def _renew_once(self, renew_every: float) -> None:
        settings = self.settings
        now = time.monotonic()
        batch = [
            (task_id, running)
            for task_id, running in list(self._running.items())
            if running.lost is None and (running.ctx.dirty or now - running.last_renew >= renew_every)
        ]
        if not batch:
            return
        items = [(task_id, running.ctx.take_progress() if running.ctx.dirty else None) for task_id, running in batch]
        try:
            lost = set(
                await blocking(self.store.heartbeat_many, self.worker_id, time.time(), settings.lease_seconds, items)
            )
        except Exception:
            # A transient store error: the work goes on; the lease has slack for a few misses.
            logger.exception("lease renewal of %d tasks failed", len(batch))
            self.store_failing_since = self.store_failing_since or time.time()
            for _, running in batch:
                running.ctx.keep_progress()  # the report is written with the next round instead
            return
        self.store_failing_since = None
        for task_id, running in batch:
            if task_id in lost:
                await self._stop_lost(task_id, running)
            else:
                running.last_renew = now

    async def _stop_lost(self, task_id: str, running: _Running) -> None:
        try:
            current = await blocking(self.store.get, task_id, running.owner, time.time())
            running.lost = current.status if current is not None else "gone"
        except Exception:
            running.lost = "lost"  # the lease is gone whatever the read says: stop the work anyway
        running.ctx.mark_cancelled()
        with log_context(task_id=task_id, actor=running.owner, session=running.session):
            logger.info("task lease lost (%s); stopping its work", running.lost)
        running.scope.cancel()
