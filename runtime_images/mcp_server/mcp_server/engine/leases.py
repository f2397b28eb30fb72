"""Keeping the leases of the tasks this process runs: renewal (with progress and checkpoints) and hand-over.

One writer renews every running task's lease in a batch; a lease found lost stops that task's
work here; before the session ends, resumable work is released for another session.
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


@dataclass
class Running:
    scope: anyio.CancelScope
    ctx: DurableContext
    owner: str
    last_renew: float
    lost: str | None = None
    session: str | None = None
    resumable: bool = False


class Leases:
    def __init__(self, store: TaskStore, settings: Settings, worker_id: str, running: dict[str, Running]) -> None:
        self.store = store
        self.settings = settings
        self.worker_id = worker_id
        self._running = running
        # When lease renewals began failing (None while they succeed): the engine's health.
        self.store_failing_since: float | None = None

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
        items = [
            (task_id, running.ctx.take_progress(), running.ctx.take_checkpoint())
            if running.ctx.dirty
            else (task_id, None, None)
            for task_id, running in batch
        ]
        try:
            lost = set(
                await blocking(self.store.heartbeat_many, self.worker_id, time.time(), settings.lease_seconds, items)
            )
        except Exception:
            # A transient store error: the work goes on; the lease has slack for a few misses.
            logger.exception("lease renewal of %d tasks failed", len(batch))
            self.store_failing_since = self.store_failing_since or time.time()
            for (_, _, checkpoint), (_, running) in zip(items, batch, strict=True):
                running.ctx.keep_progress(checkpoint)  # written with the next round instead
            return
        self.store_failing_since = None
        for task_id, running in batch:
            if task_id in lost:
                await self._stop_lost(task_id, running)
            else:
                running.last_renew = now

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
                logger.exception("releasing a task for hand-over failed; its lease runs out instead")
                continue
            running.lost = "handed over" if released else "lost"
            running.ctx.mark_cancelled()
            running.scope.cancel()
            handed += int(released)
        return handed
