"""What a reader of a running task sees of its progress, and what reading it asks of the task's worker.

The store has a task's progress as of its last write: with its lease renewal (every third of a lease),
or every TASK_PROGRESS_WRITE_SECONDS while someone in another process follows it. So:
- a task running in this process is shown with its latest report, from memory (no store write needed);
- a reader of a task running elsewhere marks it followed for its worker (store.follow: one write when
  the follow begins, then one per half FOLLOW_SECONDS whoever reads). The worker reads its new follows
  about once a second (store.follows_since, while it runs tasks), writes the task's progress at once,
  then every TASK_PROGRESS_WRITE_SECONDS until FOLLOW_SECONDS after the last mark.
- `tasks/get` (and check_task_status) on a task nobody followed, whose stored progress is older than
  TASK_PROGRESS_WRITE_SECONDS, waits for that first write (usually 1-2 s, at most WAIT_SECONDS) rather
  than answer with progress up to a renewal old. Listen streams and listings never wait.

Failure modes: a follow mark that cannot be written, or a worker that does not answer in time (its
store reads failing, or it died with its lease still running), leaves the reader with the store's
progress as it is (the read is answered all the same); the worker then writes at the lease's pace.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import anyio

from mcp_server import constants as c
from mcp_server.engine.blocking import blocking, store_read
from mcp_server.engine.worker import Worker
from mcp_server.store.base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)
# How long one read keeps a task followed (its worker writes progress more often meanwhile).
FOLLOW_SECONDS = 120.0
# The longest a first read of a task followed by nobody waits for its worker's write.
WAIT_SECONDS = 4.0
# How often that read looks at the store meanwhile (a strongly consistent point read each).
REREAD_SECONDS = 0.2


class Following:
    def __init__(self, store: TaskStore, worker: Worker, fresh_seconds: float) -> None:
        self.store = store
        self.worker = worker
        # Stored progress at most this old is shown as it is (the pace of a followed task's writes).
        self.fresh_seconds = fresh_seconds

    def fresh(self, record: TaskRecord) -> TaskRecord:
        """The record with this process's latest report of it, if it runs here (no store access)."""
        live = self.worker.live_progress(record.task_id) if record.status == c.STATUS_WORKING else None
        if live is None:
            return record
        (value, total, message), reported_at = live
        return dataclasses.replace(
            record, progress=value, total=total, status_message=message, updated_at=max(record.updated_at, reported_at)
        )

    async def seen(self, record: TaskRecord, *, latest: bool = False) -> TaskRecord:
        """A caller reads this record: fresh progress if it runs here, else mark it followed (when due).

        `latest`: the caller asked for the task itself (`tasks/get`): if nobody followed it and its
        stored progress is stale, wait a little for the worker's write.
        """
        owner = record.lease_owner
        # Leased here: running (its latest report is in memory) or just finishing (its end is being written).
        if (
            record.status != c.STATUS_WORKING
            or self.worker.is_running(record.task_id)
            or owner == self.worker.worker_id
        ):
            return self.fresh(record)
        now = time.time()
        # Only work that runs (leased, not parked or handed over, not waiting for an answer) reports.
        if owner is None or (record.lease_expires_at or 0.0) <= now or record.handover or record.pending_input:
            return record
        until = record.followed_until or 0.0
        following = record.follower == owner and until >= now
        if following and until >= now + FOLLOW_SECONDS / 2:
            return record
        try:
            await blocking(self.store.follow, record.task_id, owner, now, now + FOLLOW_SECONDS, extend=following)
        except Exception:  # best effort: the read is answered all the same, with the store's progress
            logger.exception("marking a task followed failed; its progress stays at the lease's pace")
            return record
        if latest and not following and now - record.updated_at > self.fresh_seconds:
            return await self._newer(record)
        return record

    async def _newer(self, record: TaskRecord) -> TaskRecord:
        """The task once its worker wrote again (or ended), or as it was after WAIT_SECONDS."""
        with anyio.move_on_after(WAIT_SECONDS):
            while True:
                await anyio.sleep(REREAD_SECONDS)
                try:
                    current = await store_read(self.store, self.store.get, record.task_id, record.owner, time.time())
                except Exception:  # the first read stands
                    logger.exception("reading a followed task again failed; answering with the first read")
                    return record
                if current is None or current.status != c.STATUS_WORKING or current.updated_at > record.updated_at:
                    return current or record
        return record
