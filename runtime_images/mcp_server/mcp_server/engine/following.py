"""What a reader of a running task sees of its progress, and what reading it asks of the task's worker.

The store has a task's progress as of its last write: with its lease renewal (every third of a lease),
or every TASK_PROGRESS_WRITE_SECONDS while someone in another process follows it. So:
- a task running in this process is shown with its latest report, from memory (no store write needed);
- a reader of a task running elsewhere marks it followed (store.follow, at most one write per half
  FOLLOW_SECONDS, whoever reads): its worker learns so at its next renewal and writes progress more
  often for FOLLOW_SECONDS after the last mark. The first read of a task nobody followed may show
  progress up to one renewal old; later reads, at most TASK_PROGRESS_WRITE_SECONDS and a little.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from mcp_server import constants as c
from mcp_server.engine.blocking import blocking
from mcp_server.engine.worker import Worker
from mcp_server.store.base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)
# How long one read keeps a task followed (its worker writes progress more often meanwhile).
FOLLOW_SECONDS = 120.0


class Following:
    def __init__(self, store: TaskStore, worker: Worker) -> None:
        self.store = store
        self.worker = worker

    def fresh(self, record: TaskRecord) -> TaskRecord:
        """The record with this process's latest report of it, if it runs here (no store access)."""
        live = self.worker.live_progress(record.task_id) if record.status == c.STATUS_WORKING else None
        if live is None:
            return record
        (value, total, message), reported_at = live
        return dataclasses.replace(
            record, progress=value, total=total, status_message=message, updated_at=max(record.updated_at, reported_at)
        )

    async def seen(self, record: TaskRecord) -> TaskRecord:
        """A caller reads this record: fresh progress if it runs here, else mark it followed (when due)."""
        if record.status != c.STATUS_WORKING or self.worker.is_running(record.task_id):
            return self.fresh(record)
        now = time.time()
        # Only work that runs (leased, not parked or handed over, not waiting for an answer) reports.
        running = record.lease_owner is not None and (record.lease_expires_at or 0.0) > now and not record.handover
        if running and not record.pending_input and (record.followed_until or 0.0) < now + FOLLOW_SECONDS / 2:
            try:
                await blocking(self.store.follow, record.task_id, now, now + FOLLOW_SECONDS)
            except Exception:  # best effort: the read is answered all the same, with the store's progress
                logger.exception("marking a task followed failed; its progress stays at the lease's pace")
        return record
