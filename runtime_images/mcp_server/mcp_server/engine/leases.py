"""Keeping the leases of the tasks this process runs: renewal (with progress and checkpoints) and hand-over.

One writer renews every running task's lease in a batch; a lease found lost stops that task's
work here; before the session ends, resumable work is released for another session.

Store writes are the cost of a task (a DynamoDB write per renewal): a task's progress and its last
checkpoint ride its lease renewal, every third of a lease, in the same write. Only while a reader in
another process follows the task is progress written more often: at once when the follow begins (this
process reads its new follows about every FOLLOW_POLL_SECONDS while it runs tasks: store.follows_since,
a single small query), then every TASK_PROGRESS_WRITE_SECONDS until the mark runs out (each renewal says
until when). Readers in this process never wait for a write: they see every report in memory
(engine.following).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio

from mcp_server.engine.blocking import blocking
from mcp_server.engine.context import DurableContext
from mcp_server.logs import log_context
from mcp_server.settings import Settings
from mcp_server.store.base import TaskStore

logger = logging.getLogger(__name__)
# How often a worker running tasks reads the follows begun for it (a reader elsewhere waits that long).
FOLLOW_POLL_SECONDS = 1.0
# How far back each such read looks: covers clocks that differ and the follow index's propagation.
FOLLOW_LOOKBACK_SECONDS = 30.0


@dataclass
class Running:
    scope: anyio.CancelScope
    ctx: DurableContext
    owner: str
    last_renew: float  # monotonic: the last write of this task's lease (every write renews it)
    lost: str | None = None
    session: str | None = None
    resumable: bool = False
    # Until when (wall clock) a reader in another process follows the task, as the last renewal said.
    followed_until: float = 0.0
    # When the latest follow this worker acted on began; a newer one has the task written at once.
    follow_seen: float = 0.0
    write_now: bool = False


class Leases:
    def __init__(self, store: TaskStore, settings: Settings, worker_id: str, running: dict[str, Running]) -> None:
        self.store = store
        self.settings = settings
        self.worker_id = worker_id
        self._running = running
        # When lease renewals began failing (None while they succeed): the engine's health.
        self.store_failing_since: float | None = None
        self._follows_read_at = 0.0  # wall clock
        self._follows_failing = False

    async def renew_forever(self) -> None:
        """One writer renews every running task's lease and records its progress.

        Batched: with hundreds of tasks a writer per task would queue store calls
        (and, on SQLite, commits) in front of the creates and reads callers wait for.
        """
        while True:
            await anyio.sleep(self.wake_seconds)
            try:
                await self._learn_follows()
                await self._renew_once()
            except Exception:
                # Supervised: one bad round (a store outage, a listener bug) is logged, not fatal.
                logger.exception("lease renewal round failed; the next one runs as usual")

    @property
    def renew_seconds(self) -> float:
        """How often a lease is renewed: a third of it, so two renewals in a row may fail without losing it."""
        return self.settings.lease_seconds / 3

    @property
    def wake_seconds(self) -> float:
        # Fine enough that a followed task's progress is written close to its interval, never busy.
        return max(0.05, min(1.0, self.renew_seconds / 4, self.settings.progress_write_seconds / 4))

    async def _learn_follows(self) -> None:
        """Mark the running tasks a reader elsewhere began to follow since the last look: written at once."""
        wall = time.time()
        if wall - self._follows_read_at < FOLLOW_POLL_SECONDS or not any(
            running.lost is None for running in self._running.values()
        ):
            return
        self._follows_read_at = wall
        try:
            begun = await blocking(self.store.follows_since, self.worker_id, wall - FOLLOW_LOOKBACK_SECONDS)
        except Exception:
            # Followed tasks are still told by their renewals; only the first write comes later.
            if not self._follows_failing:
                logger.exception("reading new follows failed; followed tasks are written at the lease's pace")
            self._follows_failing = True
            return
        self._follows_failing = False
        for task_id, since in begun.items():
            running = self._running.get(task_id)
            if running is not None and since > running.follow_seen:
                running.follow_seen = since
                running.write_now = True

    def _due(self, running: Running, now: float, wall: float) -> bool:
        """The task's lease must be renewed, or a reader elsewhere follows it and it has unwritten progress."""
        if running.write_now:
            return True
        since = now - running.last_renew
        if since >= self.renew_seconds:
            return True
        followed = running.followed_until > wall
        return followed and running.ctx.dirty and since >= self.settings.progress_write_seconds

    async def _renew_once(self) -> None:
        settings = self.settings
        now, wall = time.monotonic(), time.time()
        batch = [
            (task_id, running)
            for task_id, running in list(self._running.items())
            if running.lost is None and self._due(running, now, wall)
        ]
        if not batch:
            return
        items = [
            (task_id, running.ctx.take_progress(), running.ctx.take_checkpoint())
            if running.ctx.dirty
            else (task_id, None, None)
            for task_id, running in batch
        ]
        try:
            renewal = await blocking(self.store.renew, self.worker_id, time.time(), settings.lease_seconds, items)
        except Exception:
            # A transient store error: the work goes on; the lease has slack for a few misses.
            logger.exception("lease renewal of %d tasks failed", len(batch))
            self.store_failing_since = self.store_failing_since or time.time()
            for (_, _, checkpoint), (_, running) in zip(items, batch, strict=True):
                running.ctx.keep_progress(checkpoint)  # written with the next round instead
            return
        self.store_failing_since = None
        lost = set(renewal.lost)
        for task_id, running in batch:
            if task_id in lost:
                if running.lost is None:  # not given up here meanwhile (a hand-over)
                    await self._stop_lost(task_id, running)
            else:
                running.last_renew, running.write_now = now, False
                running.followed_until = renewal.followed.get(task_id, 0.0)

    async def _stop_lost(self, task_id: str, running: Running) -> None:
        try:
            current = await blocking(self.store.get, task_id, running.owner, time.time())
            running.lost = current.status if current is not None else "gone"
        except Exception:
            running.lost = "lost"  # the lease is gone whatever the read says: stop the work anyway
        running.ctx.mark_cancelled()
        with log_context(task_id=task_id, actor=running.owner, session=running.session):
            logger.info("task lease lost (%s); stopping its work", running.lost)
        running.scope.cancel()

    async def hand_over_resumable(self) -> int:
        """Release every resumable task running here (this session ends soon); another session continues it.

        The work here stops without finishing; the task stays `working`, free for the next take-over.
        """
        handed = 0
        for task_id, running in list(self._running.items()):
            if not running.resumable or running.lost is not None:
                continue
            running.lost = "handing over"  # no renewal round takes it up meanwhile
            try:
                released = await blocking(
                    self.store.release,
                    task_id,
                    self.worker_id,
                    time.time(),
                    progress=running.ctx.last_progress,
                    checkpoint=running.ctx.take_checkpoint(),
                )
            except Exception:
                logger.exception(
                    "releasing a task for hand-over failed; it runs on here, and the next round tries again"
                )
                running.lost = None
                continue
            running.lost = "handed over" if released else "lost"
            running.ctx.mark_cancelled()
            running.scope.cancel()
            handed += int(released)
        return handed
