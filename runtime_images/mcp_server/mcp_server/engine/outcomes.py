"""Ending a task and publishing its outcome: one path for the worker, the service and the sweeper.

A terminal transition is a conditional store write; only the caller whose write applied
logs it, counts it and tells listeners, so nothing is counted twice. The result event is
written to the caller's memory after the transition; a process that dies before writing it
leaves the publication overdue, and a sweeper writes it again (the event's client token
keeps that to one event).

No web server or MCP import here: the sweeper (and so a scheduled job) uses this module.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import anyio

from mcp_server import constants as c
from mcp_server.engine.blocking import blocking
from mcp_server.engine.views import QUOTA_EXCEEDED
from mcp_server.logs import log_context
from mcp_server.metrics import TaskMetrics
from mcp_server.results_sink import ResultSink, question_event, result_event
from mcp_server.settings import Settings
from mcp_server.store.base import LeaseLost, TaskRecord, TaskStore
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
    def __init__(self, store: TaskStore, sink: ResultSink, settings: Settings, metrics: TaskMetrics) -> None:
        self.store = store
        self.sink = sink
        self.settings = settings
        self.metrics = metrics
        self.listeners: list[TaskListener] = []

    async def finish(
        self,
        task_id: str,
        worker_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> TaskRecord | None:
        """End a task `worker_id` holds; None if it no longer holds it (cancelled or taken over meanwhile)."""
        now = time.time()
        try:
            try:
                record = await blocking(
                    self.store.finish,
                    task_id,
                    worker_id,
                    status,
                    now,
                    result=result,
                    error=error,
                    message=message,
                    publish_after=now + self.settings.lease_seconds,
                    quota=self.settings.quota,
                )
            except QuotaExceeded as exc:
                # The result is not kept: the task fails, saying which quota and when it frees.
                reason = f"the result ({result_size(result)} bytes) was not kept: {exc}"
                record = await blocking(
                    self.store.finish,
                    task_id,
                    worker_id,
                    c.STATUS_FAILED,
                    now,
                    error={"code": QUOTA_EXCEEDED, "message": reason, "data": exc.data()},
                    message=reason,
                    publish_after=now + self.settings.lease_seconds,
                )
        except LeaseLost:
            return None  # whoever ended it published it
        self.ended(record)
        await self.publish(record)
        return record

    def ended(self, record: TaskRecord) -> None:
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

    def progressed(self, task_id: str, progress: float, total: float | None, message: str | None) -> None:
        for listener in self.listeners:
            listener.progressed(task_id, progress, total, message)

    def status_changed(self, record: TaskRecord) -> None:
        for listener in self.listeners:
            listener.status_changed(record)

    async def publish(self, record: TaskRecord) -> None:
        """Write the terminal event, then clear the task's publication due date."""
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                if record.memory_id is not None:
                    await blocking(self.sink.write, result_event(record, record.memory_id))
                await blocking(self.store.mark_published, record.task_id)
                return
            except Exception:
                with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id):
                    logger.exception("task result event not written (attempt %d)", attempt + 1)
                await anyio.sleep(0.5 * 2**attempt)

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
