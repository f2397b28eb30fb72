"""The task store contract.

Every transition is conditional in the store itself (not read-then-write in Python),
so two workers, a canceller and a recovering sweeper can race without a task ever
leaving a terminal status or getting two results.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp_server import constants as c
from mcp_server.store.quotas import Quota

Progress = tuple[float, float | None, str | None]
# One task's lease renewal: its id, a progress report and a checkpoint (JSON text) to record, if any.
Beat = tuple[str, Progress | None] | tuple[str, Progress | None, str | None]


def beat_parts(beat: Beat) -> tuple[str, Progress | None, str | None]:
    task_id, progress, *rest = beat
    return task_id, progress, rest[0] if rest else None


@dataclass(frozen=True)
class Renewal:
    """What a batch of lease renewals found: the leases lost, and the tasks a reader elsewhere follows."""

    lost: list[str]
    # Task id -> until when a reader in another process follows it (only those still followed).
    followed: dict[str, float] = field(default_factory=dict)


class LeaseLost(Exception):
    """The worker no longer owns the task: it was cancelled, finished, or taken over."""


@dataclass(frozen=True)
class NewTask:
    task_id: str
    owner: str
    session_id: str
    memory_id: str | None
    tool: str
    arguments: dict[str, Any]
    ttl_seconds: int
    worker_id: str
    resumable: bool = False
    request_key: str | None = None


@dataclass
class TaskRecord:
    task_id: str
    owner: str
    session_id: str
    memory_id: str | None
    tool: str
    arguments: dict[str, Any]
    status: str
    created_at: float
    updated_at: float
    ttl_seconds: int
    expires_at: int
    status_message: str | None = None
    progress: float | None = None
    total: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    attempts: int = 1
    # How many times a terminal transition was applied: the durability tests assert 1.
    completions: int = 0
    # When the result event becomes overdue; None once it is written (or while running).
    publish_due_at: float | None = None
    resumable: bool = False
    request_key: str | None = None
    # Questions the running work asked the caller (key -> an elicitation/create request), and the
    # answers received so far (key -> an ElicitResult). Set and cleared by the worker.
    input_requests: dict[str, Any] | None = None
    input_responses: dict[str, Any] | None = None
    # Writes of the result event tried by sweepers after its finisher's own; given up on past a bound.
    publish_attempts: int = 0
    publish_abandoned: bool = False
    # The worker released the lease on purpose (its session was ending, or the work sleeps until
    # lease_expires_at): the next take-over is a hand-over, not a lost worker, and costs no attempt.
    handover: bool = False
    # The work's last checkpoint (ctx.checkpoint(state)): a re-run starts from it.
    checkpoint: Any = None
    # Until when a reader in another process follows the task: its worker writes progress more often.
    followed_until: float | None = None
    # The worker that reader's mark was for (the lease owner then): the one told of the mark at once.
    follower: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pending_input(self) -> dict[str, Any]:
        """The questions still waiting for an answer (none once the task has ended)."""
        if self.status != c.STATUS_WORKING or not self.input_requests:
            return {}
        answered = self.input_responses or {}
        return {key: request for key, request in self.input_requests.items() if key not in answered}

    @property
    def tool_error(self) -> bool:
        """Completed with the tool's own error as its result (`isError`): completed, not failed (SEP-2663)."""
        return self.status == c.STATUS_COMPLETED and bool((self.result or {}).get("isError"))

    @property
    def wire_status(self) -> str:
        """The status callers see: a working task waiting for an answer is `input_required`."""
        return c.STATUS_INPUT_REQUIRED if self.pending_input else self.status


class TaskStore(abc.ABC):
    """Blocking API; the engine calls it from a worker thread."""

    @abc.abstractmethod
    def create(
        self, new: NewTask, now: float, lease_seconds: float, quota: Quota | None = None
    ) -> tuple[TaskRecord, bool]:
        """Persist a working task leased to `new.worker_id`; return (task, created).

        With a request key, a retry returns the task first created under that key
        (created=False) instead of creating another. With a quota, QuotaExceeded (nothing
        written) when the owner has too many running tasks or created too many this minute.
        """

    @abc.abstractmethod
    def get(self, task_id: str, owner: str, now: float) -> TaskRecord | None:
        """The task if it exists, belongs to `owner` and has not expired; otherwise None."""

    @abc.abstractmethod
    def list_by_owner(self, owner: str, now: float, limit: int = 50) -> list[TaskRecord]:
        """The owner's unexpired tasks, newest first."""

    def heartbeat(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        lease_seconds: float,
        progress: Progress | None = None,
        checkpoint: str | None = None,
    ) -> None:
        """Renew the lease (and record progress and a checkpoint, in the same write); LeaseLost if not held."""
        if self.renew(worker_id, now, lease_seconds, [(task_id, progress, checkpoint)]).lost:
            raise LeaseLost

    def heartbeat_many(self, worker_id: str, now: float, lease_seconds: float, items: Sequence[Beat]) -> list[str]:
        """Renew many leases at once (one engine-wide flush instead of a writer per task).

        Returns the ids whose lease this worker has lost.
        """
        return self.renew(worker_id, now, lease_seconds, items).lost

    @abc.abstractmethod
    def renew(self, worker_id: str, now: float, lease_seconds: float, items: Sequence[Beat]) -> Renewal:
        """heartbeat_many, also saying which of the tasks renewed a reader in another process follows (`follow`)."""

    @abc.abstractmethod
    def follow(self, task_id: str, follower: str, now: float, until: float, *, extend: bool = False) -> bool:
        """A reader in another process follows a working task, leased to `follower`, until `until`.

        A new follow (none running, or one for another worker) records when it began, and
        `follows_since` tells the worker within its next poll: it writes progress at once, then every
        TASK_PROGRESS_WRITE_SECONDS while the mark lasts (its renewals say until when). A follow still
        running is extended only past the middle of its span (readers in several processes do not each
        write). `extend` says which of the two the caller expects (tried first). True if written.
        """

    @abc.abstractmethod
    def follows_since(self, worker_id: str, since: float) -> dict[str, float]:
        """Task id -> when its follow began, for follows of tasks leased to `worker_id` begun at or after
        `since` (a cheap read a worker makes every second or so while it runs tasks)."""

    @property
    def reads_inline(self) -> bool:
        """True when point reads are cheap enough to run on the event loop (no thread hop)."""
        return False

    @abc.abstractmethod
    def finish(
        self,
        task_id: str,
        worker_id: str,
        status: str,
        now: float,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
        publish_after: float,
        quota: Quota | None = None,
        progress: Progress | None = None,
    ) -> TaskRecord:
        """Move a working task this worker owns to a terminal status; raise LeaseLost otherwise.

        `progress` is the work's last report: a finished task shows it, not an older one.

        With a quota and a result, the result's bytes count against the owner's day; over it,
        QuotaExceeded and nothing is written (the worker then ends the task failed, without it).

        The result event is then due: if it is not marked published by `publish_after`
        (the finishing process died first), `unpublished` offers it to any server.
        """

    @abc.abstractmethod
    def request_input(self, task_id: str, worker_id: str, now: float, requests: dict[str, Any]) -> TaskRecord:
        """The worker asks the caller: replace the task's questions (and drop earlier answers); return the task.

        The task stays `working` in the store (its lease, progress and cancellation are
        unchanged); callers see `input_required` while a question has no answer. Raises
        LeaseLost if the worker no longer owns the task.
        """

    @abc.abstractmethod
    def clear_input(self, task_id: str, worker_id: str, now: float) -> TaskRecord:
        """The worker took its answers: remove questions and answers, return the task; LeaseLost otherwise."""

    @abc.abstractmethod
    def provide_input(self, task_id: str, owner: str, now: float, responses: dict[str, Any]) -> TaskRecord | None:
        """Record the owner's answers to pending questions, each key at most once.

        Returns the updated task, or None (nothing written) if the task is not the owner's,
        has ended, or any key is not a question still waiting for its answer.
        """

    @abc.abstractmethod
    def cancel(self, task_id: str, owner: str, now: float, message: str, *, publish_after: float) -> TaskRecord | None:
        """Cancel a working task; a terminal one is returned unchanged; None if not found."""

    @abc.abstractmethod
    def unpublished(self, now: float, limit: int = 25) -> list[TaskRecord]:
        """Terminal tasks whose result event is overdue (their finisher stopped before writing it)."""

    @abc.abstractmethod
    def claim_publish(self, task_id: str, now: float, until: float) -> bool:
        """Take an overdue publication until `until` (one writer at a time; publish_attempts + 1).

        False if someone else took it first."""

    @abc.abstractmethod
    def mark_published(self, task_id: str) -> None:
        """The result event is written: nothing more is due for this task."""

    @abc.abstractmethod
    def expired_leases(self, now: float, limit: int = 25) -> list[TaskRecord]:
        """Working tasks whose lease ran out (their worker is gone).

        Never one whose lease still runs; a store may find one up to two leases after its lease ran
        out (DynamoDB: its sweep index key moves on a grid, so renewals do not write the index).
        """

    @abc.abstractmethod
    def take_over(
        self,
        task_id: str,
        stale_worker: str,
        new_worker: str,
        now: float,
        lease_seconds: float,
        *,
        count_attempt: bool = True,
    ) -> bool:
        """Lease a task whose lease by `stale_worker` expired to `new_worker` (attempts + 1 unless a hand-over)."""

    @abc.abstractmethod
    def release(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        *,
        until: float | None = None,
        progress: Progress | None = None,
        checkpoint: str | None = None,
    ) -> bool:
        """The worker gives its lease up on purpose, recording its last progress and checkpoint.

        The task is free to take over at `until` (at once by default: its session ends; later: the
        work sleeps until then). The next take-over is a hand-over (`handover` set), not a lost
        worker. False if the worker no longer holds the lease.
        """

    @abc.abstractmethod
    def abandon_publish(self, task_id: str) -> None:
        """Give up writing the task's result event (after its retries): nothing more is due, and it says so."""

    @abc.abstractmethod
    def purge_expired(self, now: float) -> int:
        """Delete tasks past their ttl; return how many were removed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


@dataclass(frozen=True)
class FinalProgress:
    """What a terminal transition writes of progress: the last report, so a finished task shows no stale one."""

    replace_message: bool
    message: str | None
    progress: float | None
    total: float | None


def final_progress(message: str | None, progress: Progress | None) -> FinalProgress:
    # An explicit message (a failure's reason) wins; else the last progress report's own message.
    replace = message is not None or progress is not None
    text = message if message is not None else progress[2] if progress is not None else None
    value, total = (progress[0], progress[1]) if progress is not None else (None, None)
    return FinalProgress(replace, text, value, total)


def require_terminal(status: str) -> None:
    """Both stores' finish() accept only a terminal status."""
    if status not in c.TERMINAL_STATUSES:
        raise ValueError(f"status={status!r}: expected one of {sorted(c.TERMINAL_STATUSES)}")
