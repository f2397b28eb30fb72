"""Recovery and clean-up: lost workers, overdue result events, expired tasks.

Runs inside every server (a loop in the engine) and in a scheduled job (sweeper_lambda.py); it
needs only a store, a sink and settings: nothing of the web server or MCP is imported on this
path.

- A task whose lease expired lost its worker (process killed, microVM reaped), or was handed
  over on purpose (its session was ending). The first sweeper to take it over (a conditional
  write) either re-runs it, when it is resumable, has attempts left and a runner can take it,
  or fails it with a reason. A hand-over costs no attempt.
- A finished task whose result event was never written (its finisher died, or memory refused)
  is written again, one try per sweep with backoff per task (like a queue's visibility
  timeout), and given up on after `publish_max_attempts`, with a metric and a log line.
- Expired tasks are purged (DynamoDB's TTL does this by itself).
Each task is handled on its own: one that fails is logged and left for the next sweep, and the
others go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

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
# Result-event writes by sweepers before giving up; backoff doubles from one lease, capped.
PUBLISH_MAX_ATTEMPTS = 8
PUBLISH_BACKOFF_CAP_SECONDS = 3600.0

# Runs a resumable task this sweeper took over: True if it now runs (or will run) somewhere.
Resume = Callable[[TaskRecord], Awaitable[bool]]


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
        publish_max_attempts: int = PUBLISH_MAX_ATTEMPTS,
        report_backlog: bool = False,
        leave_resumable: bool = False,
        can_run: Callable[[TaskRecord], bool] = lambda _record: True,
    ) -> None:
        self.store = store
        self.outcomes = outcomes
        self.settings = settings
        self.metrics = metrics
        self.worker_id = worker_id
        self._resume = resume
        self._runs_here = runs_here
        self._publish_max = publish_max_attempts
        self._report_backlog = report_backlog
        # With nowhere to run it, a lost resumable task is left for a server to take over.
        self._leave_resumable = leave_resumable
        # Whether `resume` can run this task now (this server has its tool, and time left).
        self._can_run = can_run
        self._last_purge = 0.0

    @classmethod
    def standalone(
        cls, store: TaskStore, sink: ResultSink, settings: Settings, worker_id: str, **options: object
    ) -> Sweeper:
        """A sweeper with no server around it (a scheduled job): it runs no work itself."""
        metrics = TaskMetrics(settings.environment)
        return cls(store, Outcomes(store, sink, settings, metrics), settings, metrics, worker_id, **options)  # type: ignore[arg-type]

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("task sweep failed")
            await asyncio.sleep(self.settings.sweep_seconds)

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
        expired = await blocking(self.store.expired_leases, now)
        if self._report_backlog:
            oldest = min((r.lease_expires_at for r in expired if r.lease_expires_at is not None), default=now)
            self.metrics.backlog(now - oldest)
        for record in expired:
            if self._runs_here(record.task_id) or record.lease_owner is None:
                continue
            resumable = record.resumable and record.attempts < MAX_ATTEMPTS
            if resumable and (self._leave_resumable or not self._can_run(record)):
                continue  # left for a sweeper that can run it
            try:
                recovered += await self._take_over(record, now)
            except Exception:
                with log_context(task_id=record.task_id, actor=record.owner, tool=record.tool):
                    logger.exception("recovering a lost task failed; the next sweep tries again")
        return recovered

    async def _take_over(self, record: TaskRecord, now: float) -> int:
        lease = self.settings.lease_seconds
        handover = record.handover
        taken = await blocking(
            self.store.take_over,
            record.task_id,
            record.lease_owner,
            self.worker_id,
            now,
            lease,
            count_attempt=not handover,
        )
        if not taken:
            return 0  # another sweeper got there first
        # Counted here, once: only one sweeper's conditional take-over succeeds.
        if handover:
            self.metrics.handed_over(record.task_id, record.tool)
        else:
            self.metrics.lost_worker_recovered(record.task_id, record.tool)
        await self._recover(record, handover)
        return 1

    async def _recover(self, record: TaskRecord, handover: bool) -> None:
        lost_worker = record.lease_owner
        record.attempts += 0 if handover else 1
        record.lease_owner = self.worker_id
        record.handover = False
        rerun = record.resumable and record.attempts <= MAX_ATTEMPTS and self._resume is not None
        with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
            logger.warning(
                "task %s; %s",
                "handed over" if handover else "worker lost",
                "re-running" if rerun else "failing it",
                extra={"lost_worker": lost_worker, "attempt": record.attempts},
            )
        if rerun and self._resume is not None:
            if not await self._resume(record):
                # Taken but not runnable after all: free it again for another session, at no cost.
                await blocking(self.store.release, record.task_id, self.worker_id, time.time())
            return
        reason = (
            f"worker lost: the server process running this task stopped (its lease expired) after "
            f"{record.attempts - (0 if handover else 1)} attempt(s); "
            + ("the tool is not resumable, so it was not re-run" if not record.resumable else "giving up")
        )
        await self.outcomes.finish(
            record, self.worker_id, c.STATUS_FAILED, error={"code": WORKER_LOST, "message": reason}, message=reason
        )

    async def republish_overdue(self) -> int:
        """Write the result events that a stopped process (or a refusing memory) left unwritten."""
        now = time.time()
        done = 0
        for record in await blocking(self.store.unpublished, now):
            try:
                done += await self._republish(record, now)
            except Exception:
                with log_context(task_id=record.task_id, actor=record.owner, tool=record.tool):
                    logger.exception("republishing a result failed; the next sweep tries again")
        return done

    async def _republish(self, record: TaskRecord, now: float) -> int:
        if record.publish_attempts >= self._publish_max:
            await blocking(self.store.abandon_publish, record.task_id)
            self.metrics.publication_abandoned(record.task_id, record.tool)
            with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=record.tool):
                logger.error(
                    "gave up writing the task's result event after %d attempts; the task keeps its result",
                    record.publish_attempts,
                )
            return 0
        backoff = min(self.settings.lease_seconds * 2**record.publish_attempts, PUBLISH_BACKOFF_CAP_SECONDS)
        if not await blocking(self.store.claim_publish, record.task_id, now, now + backoff):
            return 0
        # One try per sweep: a refused write waits its backoff instead of holding up recovery.
        return int(await self.outcomes.publish(record, attempts=1))
