"""Ending a task and publishing its outcome: one path for the worker, the service and the sweeper.

A terminal transition is a conditional store write; only the caller whose write applied
logs it, counts it and tells listeners, so nothing is counted twice. The result event is
written to the caller's memory after the transition; a process that dies before writing it
leaves the publication overdue, and a sweeper writes it again (the event's client token
keeps that to one event). A result too large for a task item goes to the result blobs and
the task keeps a link to it.

No web server or MCP import here: the sweeper (and so a scheduled job) uses this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Protocol

from mcp_server import constants as c
from mcp_server.engine.blocking import blocking
from mcp_server.engine.views import QUOTA_EXCEEDED, TASK_FAULT
from mcp_server.logs import log_context
from mcp_server.metrics import TaskMetrics
from mcp_server.result_blobs import INLINE_MAX_BYTES, ResultBlobs, link_result
from mcp_server.results_sink import ResultSink, question_event, result_event
from mcp_server.settings import Settings
from mcp_server.store.base import LeaseLost, Progress, TaskRecord, TaskStore
from mcp_server.store.quotas import QuotaExceeded, result_size

logger = logging.getLogger(__name__)
PUBLISH_ATTEMPTS = 3


class TaskListener(Protocol):
    """Told of running tasks' progress and transitions (e.g. to push them to a live connection).

    Called on the event loop; must not block.
    """

    def progressed(self, task_id: str, progress: float, total: float | None, message: str | None) -> None: ...

    def ended(self, record: TaskRecord) -> None: ...

    def status_changed(self, record: TaskRecord) -> None:
        """A running task started or stopped waiting for its caller's answer."""


class Outcomes:
    def __init__(
        self,
        store: TaskStore,
        sink: ResultSink,
        settings: Settings,
        metrics: TaskMetrics,
        blobs: ResultBlobs | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.settings = settings
        self.metrics = metrics
        self.blobs = blobs
        self.listeners: list[TaskListener] = []

    async def finish(
        self,
        record: TaskRecord,
        worker_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
        progress: Progress | None = None,
    ) -> TaskRecord | None:
        """End a task `worker_id` holds; None if it no longer holds it (cancelled or taken over meanwhile).

        Raises what the store raises otherwise (the caller decides: see `fault`).
        """
        now = time.time()
        if result is not None and self.blobs is not None:
            data = json.dumps(result).encode()  # ASCII: read_task_result may serve any byte range
            if len(data) > INLINE_MAX_BYTES:
                location = await blocking(self.blobs.put, record.owner, record.task_id, data)
                result = link_result(record.task_id, record.tool, data, location)
        finish = self._store_finish(record.task_id, worker_id, now, progress)
        try:
            try:
                ended = await finish(status, result=result, error=error, message=message, quota=self.settings.quota)
            except QuotaExceeded as exc:
                # The result is not kept: the task fails, saying which quota and when it frees.
                reason = f"the result ({result_size(result)} bytes) was not kept: {exc}"
                fault = {"code": QUOTA_EXCEEDED, "message": reason, "data": exc.data()}
                ended = await finish(c.STATUS_FAILED, error=fault, message=reason)
        except LeaseLost:
            return None  # whoever ended it published it
        self.ended(ended)
        await self.publish(ended)
        return ended

    def _store_finish(self, task_id: str, worker_id: str, now: float, progress: Progress | None) -> Any:
        async def finish(status: str, **fields: Any) -> TaskRecord:
            return await blocking(
                self.store.finish,
                task_id,
                worker_id,
                status,
                now,
                publish_after=now + self.settings.lease_seconds,
                progress=progress,
                **fields,
            )

        return finish

    async def fault(self, record: TaskRecord, worker_id: str, stage: str, exc: BaseException) -> None:
        """A failure while ending or running a task's bookkeeping: fail that task with the reason, never the process.

        If even that write fails (the store is down), the lease runs out and a sweeper recovers the
        task: no task stays `working` past its lease.
        """
        reason = f"the task could not be {stage}: {type(exc).__name__}: {str(exc)[:500]}"
        with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
            logger.error("task fault while %s; failing the task", stage, exc_info=exc)
            self.metrics.fault(record.task_id, record.tool, stage)
            try:
                await self.finish(
                    record, worker_id, c.STATUS_FAILED, error={"code": TASK_FAULT, "message": reason}, message=reason
                )
            except Exception:
                logger.exception("failing the task failed too; its lease will run out and a sweeper recovers it")

    def ended(self, record: TaskRecord) -> None:
        """Log and count one terminal transition; called only by the caller that applied it."""
        duration = record.updated_at - record.created_at
        with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
            logger.info(
                "task %s",
                record.status,
                extra={"status": record.status, "duration_seconds": round(duration, 3), "attempts": record.attempts},
            )
        self.metrics.finished(record.task_id, record.tool, record.status, duration, record.tool_error)
        for listener in self.listeners:
            try:
                listener.ended(record)
            except Exception:
                logger.exception("a task listener failed")

    def progressed(self, task_id: str, progress: float, total: float | None, message: str | None) -> None:
        for listener in self.listeners:
            try:
                listener.progressed(task_id, progress, total, message)
            except Exception:
                logger.exception("a task listener failed")

    def status_changed(self, record: TaskRecord) -> None:
        for listener in self.listeners:
            try:
                listener.status_changed(record)
            except Exception:
                logger.exception("a task listener failed")

    async def publish(self, record: TaskRecord, attempts: int = PUBLISH_ATTEMPTS) -> bool:
        """Write the terminal event, then clear the task's publication due date; True once written.

        After `attempts` failures it stays due: a sweeper retries it later, with backoff.
        """
        for attempt in range(attempts):
            try:
                await blocking(self._publish_once, record)
                return True
            except Exception:
                with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id):
                    logger.exception("task result event not written (attempt %d)", attempt + 1)
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.5 * 2**attempt)
        return False

    def _publish_once(self, record: TaskRecord) -> None:
        # One thread hop for both writes, in this order: when many tasks end at once, every hop is
        # the event loop's work too (a future, a wake-up) while its requests wait.
        if record.memory_id is not None:
            self.sink.write(result_event(record, record.memory_id))
        self.store.mark_published(record.task_id)

    async def tell_question(self, record: TaskRecord, key: str, message: str) -> None:
        """One event per question in the caller's results session: a returning user's agent sees it waiting.

        Best effort: the question itself is in the task store, which every status call reads.
        """
        if record.memory_id is None:
            return
        try:
            await blocking(self.sink.write, question_event(record, record.memory_id, key, message, time.time()))
        except Exception:
            logger.exception("task question event not written")
