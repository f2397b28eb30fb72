"""`TaskEngine`: the engine's parts composed, and their background loops run with the server."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from mcp_server.engine.activity import Activity
from mcp_server.engine.api import TaskService
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.outcomes import Outcomes
from mcp_server.engine.sweeper import Sweeper
from mcp_server.engine.worker import Worker
from mcp_server.metrics import TaskMetrics
from mcp_server.results_sink import ResultSink
from mcp_server.settings import Settings
from mcp_server.store.base import TaskRecord, TaskStore


class TaskEngine:
    def __init__(
        self,
        store: TaskStore,
        sink: ResultSink,
        settings: Settings,
        catalog: ToolCatalog,
        metrics: TaskMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.activity = Activity()
        self.outcomes = Outcomes(store, sink, settings, metrics or TaskMetrics(settings.environment))
        self.worker = Worker(store, catalog, settings, self.outcomes, self.activity, self.worker_id)
        self.tasks = TaskService(store, catalog, settings, self.worker, self.outcomes)
        self.sweeper = Sweeper(
            store,
            self.outcomes,
            settings,
            self.outcomes.metrics,
            self.worker_id,
            resume=self._resume,
            runs_here=self.worker.is_running,
        )

    def _resume(self, record: TaskRecord) -> bool:
        """Re-run a resumable task taken over from a lost worker, if this server has its tool."""
        if record.tool not in self.catalog:
            return False
        self.worker.spawn(record)
        return True

    @property
    def busy(self) -> bool:
        return self.activity.busy

    @property
    def running_count(self) -> int:
        return self.worker.running_count

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TaskEngine]:
        async with anyio.create_task_group() as tg:
            self.worker.attach(tg)
            tg.start_soon(self.sweeper.run_forever)
            tg.start_soon(self.worker.renew_forever)
            try:
                yield self
            finally:
                self.worker.attach(None)
                tg.cancel_scope.cancel()
        self.store.close()
