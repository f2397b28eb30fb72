"""Recovery and clean-up: lost workers, overdue result events, expired tasks.

Runs inside every server (a loop in the engine) and needs only a store, a sink and
settings: nothing of the web server or MCP is imported on this path, so a scheduled job
can run the same sweep against the same store.

- A task whose lease expired lost its worker (process killed, microVM reaped). The first
  sweeper to take it over (a conditional write) either re-runs it, when it is resumable,
  has attempts left and a runner here can take it, or fails it with a reason.
- A finished task whose result event was never written (its finisher died) is written
  again; the event's client token keeps that to one event.
- Expired tasks are purged (DynamoDB's TTL does this by itself).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio

from mcp_server import constants as c
from mcp_server.engine.blocking import blocking
from mcp_server.engine.outcomes import Outcomes
from mcp_server.engine.views import WORKER_LOST
from mcp_server.logs import log_context
from mcp_server.metrics import TaskMetrics
from mcp_server.results_sink import ResultSink
from mcp_server.settings import Settings
from mcp_server.store.base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)
# A resumable task whose worker keeps dying is failed rather than re-run forever.
MAX_ATTEMPTS = 3
PURGE_EVERY_SECONDS = 60.0

# Takes over a task this sweeper leased to its own worker id: True if it now runs it.
Resume = Callable[[TaskRecord], bool]


class Sweeper:
    def __init__(
        self,
        store: TaskStore,
        outcomes: Outcomes,
        settings: Settings,
        metrics: TaskMetrics,
        worker_id: str,
        *,
        resume: Resume | None = None,
        runs_here: Callable[[str], bool] = lambda _task_id: False,
    ) -> None:
        self.store = store
        self.outcomes = outcomes
        self.settings = settings
        self.metrics = metrics
        self.worker_id = worker_id
        self._resume = resume
        self._runs_here = runs_here
        self._last_purge = 0.0

    @classmethod
    def standalone(cls, store: TaskStore, sink: ResultSink, settings: Settings, worker_id: str) -> Sweeper:
        """A sweeper with no server around it (a scheduled job): it runs no work, so lost tasks are failed."""
        metrics = TaskMetrics(settings.environment)
        return cls(store, Outcomes(store, sink, settings, metrics), settings, metrics, worker_id)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("task sweep failed")
            await anyio.sleep(self.settings.sweep_seconds)

    async def sweep_once(self) -> None:
        await self.recover_lost()
        await self.republish_overdue()
        if time.monotonic() - self._last_purge >= PURGE_EVERY_SECONDS:
            purged = await blocking(self.store.purge_expired, time.time())
            self._last_purge = time.monotonic()
            if purged:
                logger.info("purged %d expired tasks", purged)

    async def recover_lost(self) -> int:
        """Fail (or re-run, if resumable) tasks whose worker stopped renewing its lease."""
        now = time.time()
        recovered = 0
        for record in await blocking(self.store.expired_leases, now):
            if self._runs_here(record.task_id) or record.lease_owner is None:
                continue
            taken = await blocking(
                self.store.take_over,
                record.task_id,
                record.lease_owner,
                self.worker_id,
                now,
                self.settings.lease_seconds,
            )
            if not taken:
                continue  # another sweeper got there first
            recovered += 1
            # Counted here, once: only one sweeper's conditional take-over succeeds.
            self.metrics.lost_worker_recovered(record.task_id, record.tool)
            await self._recover(record)
        return recovered

    async def _recover(self, record: TaskRecord) -> None:
        lost_worker = record.lease_owner
        record.attempts += 1
        record.lease_owner = self.worker_id
        rerun = record.resumable and record.attempts <= MAX_ATTEMPTS and self._resume is not None
        with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
            logger.warning(
                "task worker lost; %s",
                "re-running" if rerun else "failing it",
                extra={"lost_worker": lost_worker, "attempt": record.attempts - 1},
            )
        if rerun and self._resume is not None and self._resume(record):
            return
        reason = (
            f"worker lost: the server process running this task stopped (its lease expired) after "
            f"{record.attempts - 1} attempt(s); "
            + ("the tool is not resumable, so it was not re-run" if not record.resumable else "giving up")
        )
        await self.outcomes.finish(
            record.task_id,
            self.worker_id,
            c.STATUS_FAILED,
            error={"code": WORKER_LOST, "message": reason},
            message=reason,
        )

    async def republish_overdue(self) -> int:
        """Write the result events that a stopped process finished but never published."""
        now = time.time()
        done = 0
        for record in await blocking(self.store.unpublished, now):
            claimed = await blocking(self.store.claim_publish, record.task_id, now, now + self.settings.lease_seconds)
            if claimed:
                await self.outcomes.publish(record)
                done += 1
        return done
