"""`TaskEngine`: the engine's parts composed, and their background loops run, supervised, with the server."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio

from mcp_server.engine.activity import Activity
from mcp_server.engine.api import TaskService
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.outcomes import Outcomes
from mcp_server.engine.sweeper import Sweeper
from mcp_server.engine.worker import Worker
from mcp_server.metrics import TaskMetrics
from mcp_server.result_blobs import ResultBlobs
from mcp_server.results_sink import ResultSink
from mcp_server.settings import Settings
from mcp_server.store.base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)
# Threads for blocking store, sink and blob calls (asyncio's default is cores + 4).
BLOCKING_THREADS = 40
# A loop that raised is restarted after this pause (doubling, capped).
RESTART_SECONDS = (0.5, 30.0)


class TaskEngine:
    def __init__(
        self,
        store: TaskStore,
        sink: ResultSink,
        settings: Settings,
        catalog: ToolCatalog,
        metrics: TaskMetrics | None = None,
        blobs: ResultBlobs | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # One process serves one runtime session: its lifetime runs from now.
        self.started = time.time()
        self.activity = Activity()
        self.outcomes = Outcomes(store, sink, settings, metrics or TaskMetrics(settings.environment), blobs)
        self.worker = Worker(store, catalog, settings, self.outcomes, self.activity, self.worker_id)
        self.tasks = TaskService(store, catalog, settings, self.worker, self.outcomes, self.session_ends_at, blobs)
        self.sweeper = Sweeper(
            store,
            self.outcomes,
            settings,
            self.outcomes.metrics,
            self.worker_id,
            resume=self._resume,
            runs_here=self.worker.is_running,
            can_run=self._can_run,
            publish_max_attempts=settings.publish_max_attempts,
        )
        self._running = False

    def session_ends_at(self) -> float | None:
        """When the platform ends this session (its max lifetime), if the runtime said."""
        lifetime = self.settings.runtime_max_lifetime_seconds
        return None if lifetime is None else self.started + lifetime

    def _can_run(self, record: TaskRecord) -> bool:
        return record.tool in self.catalog and not self.tasks.ending_soon()

    async def _resume(self, record: TaskRecord) -> bool:
        """Re-run a resumable task taken over from a lost worker, if this server has its tool and the time."""
        if not self._can_run(record):
            return False
        self.worker.spawn(record)
        return True

    @property
    def busy(self) -> bool:
        return self.activity.busy

    @property
    def running_count(self) -> int:
        return self.worker.running_count

    @property
    def problem(self) -> str | None:
        """Why the engine cannot serve, or None: /ping and /mcp say so instead of claiming health."""
        if not self._running:
            return "the task engine is not running"
        failing = self.worker.leases.store_failing_since
        if failing is not None and time.time() - failing > 2 * self.settings.lease_seconds:
            return f"the task store has refused every lease renewal for {time.time() - failing:.0f} s"
        return None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TaskEngine]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(BLOCKING_THREADS))
        async with anyio.create_task_group() as tg:
            self.worker.attach(tg)
            tg.start_soon(supervised, "sweeper", self.sweeper.run_forever)
            tg.start_soon(supervised, "lease renewal", self.worker.leases.renew_forever)
            if self.session_ends_at() is not None:
                tg.start_soon(supervised, "session lifetime", self._hand_over_before_the_end)
            self._running = True
            try:
                yield self
            finally:
                self._running = False
                self.worker.attach(None)
                tg.cancel_scope.cancel()
        self.store.close()

    async def _hand_over_before_the_end(self) -> None:
        """Before the platform ends this session, release every resumable task so another session continues it."""
        ends = self.session_ends_at()
        assert ends is not None
        await anyio.sleep(max(ends - self.tasks.handover_margin() - time.time(), 0))
        while True:
            handed = await self.worker.leases.hand_over_resumable()
            if handed:
                logger.info("session ends soon: handed %d resumable tasks over", handed)
            await anyio.sleep(max(self.settings.lease_seconds / 3, 0.1))


async def supervised(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Run a background loop for the engine's life; if it raises, log it and start it again."""
    pause = RESTART_SECONDS[0]
    while True:
        try:
            await loop()
            return
        except Exception:
            logger.exception("the engine's %s loop failed; restarting it in %.1f s", name, pause)
        await anyio.sleep(pause)
        pause = min(pause * 2, RESTART_SECONDS[1])
