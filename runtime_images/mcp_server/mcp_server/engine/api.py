"""The task service: what every protocol door does to a durable task, in protocol-neutral terms.

The 2026-07-28 tasks extension, the 2025-11-25 Tasks utility and the plain tools each only
translate wire shapes to these calls and these errors to theirs. Trust boundary: every call
takes the Caller the door built from the request; a task is found only for its owner
(another actor's task is indistinguishable from a missing one).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.engine.blocking import blocking, store_read
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.following import Following
from mcp_server.engine.outcomes import Outcomes
from mcp_server.engine.worker import Worker
from mcp_server.logs import log_context
from mcp_server.result_blobs import MAX_READ_BYTES, ResultBlobs, large_result
from mcp_server.settings import Settings
from mcp_server.store.base import NewTask, TaskRecord, TaskStore

logger = logging.getLogger(__name__)

ELICIT_ACTIONS = ("accept", "decline", "cancel")
# A task's arguments are stored with it (DynamoDB items are at most 400 KB).
MAX_ARGUMENT_BYTES = 64 * 1024
# An answer is stored with its task (DynamoDB items are at most 400 KB).
MAX_ANSWER_BYTES = 64 * 1024


class TaskNotFound(LookupError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id!r} not found")


class AnswerRejected(ValueError):
    """An answer the task cannot take; the message names the field and what was expected."""


class CreateRefused(ValueError):
    """The task was not created (nothing stored): the message says why and what to do instead."""


@dataclass(frozen=True)
class CancelOutcome:
    record: TaskRecord
    # True when the task had already ended before this call: nothing was cancelled.
    already_ended: bool

    @property
    def refusal(self) -> str:
        return f"task {self.record.task_id!r} is already {self.record.status}; a terminal task cannot be cancelled"


def _input_field(key: str) -> str:
    return f"inputResponses.{key}"


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        catalog: ToolCatalog,
        settings: Settings,
        worker: Worker,
        outcomes: Outcomes,
        session_ends_at: Callable[[], float | None] = lambda: None,
        blobs: ResultBlobs | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.worker = worker
        self.outcomes = outcomes
        self._session_ends_at = session_ends_at
        self.blobs = blobs
        self.following = Following(store, worker, settings.progress_write_seconds)

    def handover_margin(self) -> float:
        """How long before the session's end resumable work is handed over (a few leases, at least a minute)."""
        return max(60.0, 3 * self.settings.lease_seconds)

    def time_left(self) -> float | None:
        ends = self._session_ends_at()
        return None if ends is None else ends - time.time()

    def ending_soon(self) -> bool:
        left = self.time_left()
        return left is not None and left <= self.handover_margin()

    async def create(
        self,
        caller: Caller,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        ttl_seconds: int | None = None,
        request_key: str | None = None,
        resolved: dict[str, Any] | None = None,
    ) -> TaskRecord:
        """Store the task, then start it; returns only once the task is durable.

        `resolved`: the values the tool's Resolve(...) parameters were given in the call (stored with it).

        Raises pydantic.ValidationError (nothing stored) when the arguments do not fit the tool, and
        store.quotas.QuotaExceeded (nothing stored) when the caller is over a quota.
        """
        spec = self.catalog.spec(tool_name)
        # Only what the tool declares is stored, as JSON, and only so much of it.
        arguments = self.catalog.stored_arguments(tool_name, arguments, resolved)
        size = len(json.dumps(arguments))
        if size > MAX_ARGUMENT_BYTES:
            raise CreateRefused(f"arguments: expected at most {MAX_ARGUMENT_BYTES} bytes of JSON, got {size}")
        left = self.time_left()
        if left is not None and not spec.resumable and spec.max_duration_seconds > left - self.handover_margin():
            raise CreateRefused(
                f"{tool_name} may run up to {spec.max_duration_seconds:g} s, but this runtime session ends in "
                f"{max(left, 0):.0f} s (the runtime's max lifetime) and {tool_name} cannot resume elsewhere: "
                "start it from a new session"
            )
        ttl = min(ttl_seconds or self.settings.default_ttl_seconds, self.settings.max_ttl_seconds)
        new = NewTask(
            task_id=str(uuid.uuid4()),
            owner=caller.actor_id,
            session_id=caller.session_id,
            memory_id=caller.memory_id,
            tool=tool_name,
            arguments=arguments,
            ttl_seconds=max(ttl, 1),
            worker_id=self.worker.worker_id,
            resumable=spec.resumable,
            request_key=request_key,
        )
        # QuotaExceeded (nothing stored) when the caller is over a per-actor quota.
        record, created = await blocking(
            self.store.create, new, time.time(), self.settings.lease_seconds, self.settings.quota
        )
        if created:
            with log_context(task_id=record.task_id, actor=record.owner, session=record.session_id, tool=tool_name):
                logger.info("task created", extra={"ttl_seconds": record.ttl_seconds})
            self.outcomes.metrics.started(record.task_id, tool_name)
            self.worker.spawn(record)
        return record

    async def find(self, caller: Caller, task_id: str, *, latest: bool = False) -> TaskRecord | None:
        """The caller's task, or None. `latest`: the caller asked for the task itself (tasks/get), so a
        task running elsewhere whose stored progress is stale is re-read once its worker wrote (engine.following)."""
        record = await store_read(self.store, self.store.get, task_id, caller.actor_id, time.time())
        # The latest progress: from memory if the task runs here, else the store's (asking for it sooner).
        return None if record is None else await self.following.seen(record, latest=latest)

    async def load(self, caller: Caller, task_id: str, *, latest: bool = False) -> TaskRecord:
        """The caller's task; TaskNotFound if it does not exist, expired, or is someone else's."""
        record = await self.find(caller, task_id, latest=latest)
        if record is None:
            raise TaskNotFound(task_id)
        return record

    async def list(self, caller: Caller, limit: int = 50) -> list[TaskRecord]:
        """The caller's unexpired tasks, newest first."""
        records = await store_read(self.store, self.store.list_by_owner, caller.actor_id, time.time(), limit)
        return [self.following.fresh(record) for record in records]  # a listing follows nothing

    async def cancel(self, caller: Caller, task_id: str) -> CancelOutcome:
        """Cancel the caller's task; a task that already ended is returned as it is (already_ended)."""
        before = await self.load(caller, task_id)
        if before.status in c.TERMINAL_STATUSES:
            return CancelOutcome(before, already_ended=True)
        now = time.time()
        record = await blocking(
            self.store.cancel,
            task_id,
            caller.actor_id,
            now,
            "cancelled by the caller",
            publish_after=now + self.settings.lease_seconds,
        )
        # Work in this process stops now; elsewhere it stops at its next lease renewal.
        self.worker.stop(task_id, c.STATUS_CANCELLED)
        if record is None:
            raise TaskNotFound(task_id)
        if record.status == c.STATUS_CANCELLED:
            # updated_at is exactly `now` only if this call's conditional update applied:
            # a concurrent canceller also sees "cancelled" but must not count it again.
            if record.updated_at == now:
                self.outcomes.ended(record)
            await self.outcomes.publish(record)  # the event's client token keeps it to one
        # A task that ended on its own meanwhile is returned as it ended.
        return CancelOutcome(record, already_ended=False)

    async def answer(
        self,
        caller: Caller,
        record: TaskRecord,
        answers: dict[str, Any],
        field: Callable[[str], str] = _input_field,
    ) -> TaskRecord:
        """Deliver answers to the task's open questions; AnswerRejected saying what is wrong otherwise.

        `field(key)` names the caller's field for a question id in error messages.
        """
        pending = record.pending_input
        if not pending:
            raise AnswerRejected(
                f"task {record.task_id!r} is {record.wire_status}, not input_required: it is not waiting for input"
            )
        if not answers:
            raise AnswerRejected(f"inputResponses: expected answers for {sorted(pending)}")
        for key in answers:
            if key not in pending:
                raise AnswerRejected(f"{field(key)}: not an open question of this task; open: {sorted(pending)}")
        checked = {key: check_answer(field(key), answer) for key, answer in answers.items()}
        updated = await blocking(self.store.provide_input, record.task_id, caller.actor_id, time.time(), checked)
        if updated is None:
            raise AnswerRejected(
                f"task {record.task_id!r} stopped waiting for {sorted(checked)} (answered or ended meanwhile)"
            )
        with log_context(task_id=record.task_id, actor=caller.actor_id):
            logger.info("task input provided", extra={"answers": len(checked)})
        self.worker.wake(record.task_id)
        return updated

    async def read_result(self, caller: Caller, task_id: str, offset: int, length: int) -> tuple[bytes, dict[str, Any]]:
        """Part of the caller's large result: (bytes from offset, its details); TaskNotFound / ValueError otherwise."""
        record = await self.load(caller, task_id)
        details = large_result(record.result) if record.status == c.STATUS_COMPLETED else None
        if details is None or self.blobs is None:
            raise ValueError(
                f"task {task_id!r} has no large result to read: use get_task_result (status {record.wire_status})"
            )
        if offset < 0 or offset > details["bytes"]:
            raise ValueError(f"offset={offset}: expected 0..{details['bytes']}")
        length = max(1, min(length, MAX_READ_BYTES))
        try:
            data = await blocking(self.blobs.read, record.owner, task_id, offset, length)
        except FileNotFoundError:
            raise ValueError(f"task {task_id!r}: its large result has expired or was removed") from None
        return data, details


def check_answer(where: str, answer: Any) -> dict[str, Any]:
    """An ElicitResult-shaped answer, or AnswerRejected naming `where` and what was expected."""
    if not isinstance(answer, dict) or answer.get("action") not in ELICIT_ACTIONS:
        raise AnswerRejected(f"{where}: expected {{'action': 'accept'|'decline'|'cancel', 'content'?: {{...}}}}")
    content = answer.get("content")
    if content is not None and not isinstance(content, dict):
        raise AnswerRejected(f"{where}.content: expected an object of answers")
    checked = {"action": answer["action"], **({"content": content} if content is not None else {})}
    if len(json.dumps(checked)) > MAX_ANSWER_BYTES:
        raise AnswerRejected(f"{where}.content: expected at most {MAX_ANSWER_BYTES} bytes")
    return checked
