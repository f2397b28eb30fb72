"""What a tool author sees: one async function, a context, and a declaration of how it may run.

    @tool(mode="either", max_duration_seconds=900, resumable=True)
    async def summarize_csv(path: str, ctx: TaskContext) -> CsvSummary:
        ...
        await ctx.report_progress(rows_done, rows_total, f"{rows_done} rows")
        ctx.raise_if_cancelled()

The engine runs the same function in the request (progress as notifications, a
time-based heartbeat, a hard maximum duration) or as a durable task (state in the
task store, lease renewal, cancellation, results to AgentCore Memory).
"""

from __future__ import annotations

import abc
import inspect
import json
import re
import time
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import anyio
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

RunMode = Literal["request", "task", "either"]
ToolFn = Callable[..., Awaitable[Any]]
SchemaT = typing.TypeVar("SchemaT", bound=BaseModel)


class TaskCancelled(Exception):
    """Raised by `raise_if_cancelled` once the caller cancelled the work."""


class CheckpointRejected(ValueError):
    """A checkpoint state that cannot be kept: not JSON, or larger than MAX_CHECKPOINT_BYTES."""


class TaskParked(BaseException):
    """Raised by a durable `sleep` long enough to park the task: the engine frees its lease until `until`."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


# A checkpoint is stored with the task (DynamoDB items are at most 400 KB): bulk state goes to
# ctx.store_bytes instead, and the checkpoint names it.
MAX_CHECKPOINT_BYTES = 32 * 1024


def checkpoint_json(state: Any) -> str:
    """The state as it is stored; CheckpointRejected naming what is wrong."""
    try:
        text = json.dumps(state, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointRejected(
            f"checkpoint state: expected JSON (dicts, lists, str, numbers, bools): {exc}"
        ) from None
    if len(text) > MAX_CHECKPOINT_BYTES:
        raise CheckpointRejected(
            f"checkpoint state is {len(text)} bytes: expected at most {MAX_CHECKPOINT_BYTES} "
            "(keep bulk state in ctx.store_bytes and name it in the checkpoint)"
        )
    return text


class TaskContext(abc.ABC):
    """Handed to every engine tool, whichever tier runs it."""

    task_id: str | None = None
    attempt: int = 1
    # A re-run of a durable task starts with its last checkpoint's state here (None the first time).
    resume_state: Any = None

    @abc.abstractmethod
    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Report measurable progress; the engine forwards and persists it."""

    @property
    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True once the caller asked to cancel (the work should stop soon)."""

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise TaskCancelled("cancelled by the caller")

    async def checkpoint(self, state: Any = None) -> None:
        """Yield to the event loop (heartbeats, cancellation, other tasks run) and honour cancellation.

        With `state` (small JSON: at most MAX_CHECKPOINT_BYTES), a durable task records it with its
        next lease renewal: a re-run (after a crash, a lost lease, a session's end, a durable sleep)
        starts with `ctx.resume_state` set to the last state recorded. Work since that checkpoint
        runs again. In the request there is no re-run, and the state is only validated.
        """
        if state is not None:
            checkpoint_json(state)
        await anyio.sleep(0)
        self.raise_if_cancelled()

    async def sleep(self, seconds: float) -> None:
        """Wait. A durable, resumable task that waits long enough is parked instead: no lease held, no
        session kept busy, and it re-runs from its last checkpoint when the time comes."""
        await anyio.sleep(seconds)

    async def sleep_until(self, when: float | datetime) -> None:
        """`sleep` until a time (a datetime, or Unix seconds)."""
        moment = when.timestamp() if isinstance(when, datetime) else float(when)
        await self.sleep(max(0.0, moment - time.time()))

    async def store_bytes(self, name: str, data: bytes) -> None:
        """Keep a file for this task's later runs (bulk state a checkpoint names). Durable tasks only."""
        raise ToolError(f"{type(self).__name__} keeps no files: call the tool as a task")

    async def load_bytes(self, name: str) -> bytes | None:
        """A file this task stored with store_bytes in an earlier run, or None."""
        return None

    async def elicit(self, message: str, schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
        """Ask the caller for input shaped by `schema` (a model of primitive fields) and wait for it.

        As a durable task the question is stored with the task (callers see `input_required`)
        and may be answered from any session or server process; the work keeps its lease
        meanwhile, and the wait counts toward the tool's max_duration_seconds. An answer that
        does not match the schema is asked again, naming what was wrong. For several questions at
        once, use `elicit_many`.
        """
        raise ToolError(f"{type(self).__name__} cannot ask the caller for input")

    async def elicit_many(
        self, questions: Mapping[str, tuple[str, type[BaseModel]]]
    ) -> dict[str, ElicitationResult[Any]]:
        """Ask several questions in one step and wait for every answer; the results by the same keys.

            answers = await ctx.elicit_many({"owner": ("Who owns it?", Owner), "confirm": ("Delete it?", Confirm)})

        As a durable task they are stored together: a 2026-07-28 client sees one `inputRequests`
        entry per question and may answer them one at a time (the task stays input_required until
        every one is answered); a 2025-11-25 client and the plain tools get one form with every
        question's fields. In the request they are one form too. Keys: 1..64 of [A-Za-z0-9_-].
        """
        check_question_keys(questions)
        return {key: await self.elicit(message, schema) for key, (message, schema) in questions.items()}


_QUESTION_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_question_keys(questions: Mapping[str, Any]) -> None:
    """ValueError naming the bad key of an elicit_many call."""
    if not questions:
        raise ValueError("elicit_many: expected at least one question")
    for key in questions:
        if not isinstance(key, str) or not _QUESTION_KEY.fullmatch(key):
            raise ValueError(f"elicit_many: question key {key!r}: expected 1..64 characters of [A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    fn: ToolFn
    name: str
    description: str
    mode: RunMode
    max_duration_seconds: float
    resumable: bool
    context_param: str


def _context_param(fn: ToolFn) -> str:
    hints = typing.get_type_hints(fn)
    for name, annotation in hints.items():
        if inspect.isclass(annotation) and issubclass(annotation, TaskContext):
            return name
    raise TypeError(f"tool {fn.__name__!r} must take a parameter annotated TaskContext")


def tool(
    *,
    mode: RunMode = "either",
    max_duration_seconds: float = 900,
    resumable: bool = False,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[ToolFn], ToolSpec]:
    """Declare an engine tool.

    mode: "request" runs only inside the call, "task" only as a durable task, "either" lets the client choose.
    max_duration_seconds: past it the work is cancelled and the caller gets an error.
    resumable: after a lost worker, a session's end or a durable sleep the task is re-run instead of
        failed, starting with `ctx.resume_state` = its last checkpoint (the start if none): declare it
        only for work that is safe to run again from a checkpoint.

    Parameters marked `Annotated[T, Resolve(resolver)]` (the mcp SDK's multi-round-trip input) are
    gathered before the work starts, in the call: a 2026-07-28 client answers `input_required`
    rounds, a 2025-11-25 session is asked over its back channel. As a task the answers are stored
    with the task's arguments, and every run of it (a resume included) starts with them.
    """
    if mode not in ("request", "task", "either"):
        raise ValueError(f"mode={mode!r}: expected 'request', 'task' or 'either'")
    if not 0 < max_duration_seconds <= 8 * 3600:
        raise ValueError(f"max_duration_seconds={max_duration_seconds!r}: expected 0 < value <= 28800")

    def decorate(fn: ToolFn) -> ToolSpec:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {fn.__name__!r} must be an async function")
        return ToolSpec(
            fn=fn,
            name=name or fn.__name__,
            description=description or inspect.getdoc(fn) or "",
            mode=mode,
            max_duration_seconds=max_duration_seconds,
            resumable=resumable,
            context_param=_context_param(fn),
        )

    return decorate
