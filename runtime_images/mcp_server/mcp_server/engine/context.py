"""The TaskContext a durable task's tool receives: progress recorded for the lease loop, questions stored."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import anyio
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
    render_elicitation_schema,
)
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ValidationError

from kit_contracts.errors import problems
from mcp_server.store.base import Progress
from mcp_server.tooling import SchemaT, TaskContext, TaskParked, check_question_keys, checkpoint_json

logger = logging.getLogger(__name__)
# Without a total, progress is logged at most once per this interval.
PROGRESS_LOG_SECONDS = 60.0
# An answer that does not fit the question's schema is asked again, this many times in all.
MAX_INPUT_ATTEMPTS = 3

# Stores questions (label -> (message, requested schema)) together and waits for every answer (label -> answer).
Asker = Callable[[dict[str, tuple[str, dict[str, Any]]]], Awaitable[dict[str, dict[str, Any]]]]


class Files(Protocol):
    """A task's scratch files (ctx.store_bytes / load_bytes), kept with its results."""

    async def store(self, name: str, data: bytes) -> None: ...

    async def load(self, name: str) -> bytes | None: ...


class DurableContext(TaskContext):
    def __init__(
        self,
        task_id: str,
        attempt: int,
        on_update: Callable[[], None],
        ask: Asker,
        *,
        resume_state: Any = None,
        progress: Progress | None = None,
        files: Files | None = None,
        park_after: float | None = None,
    ) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.resume_state = resume_state
        self._on_update = on_update
        self._ask = ask
        self._files = files
        # A sleep at least this long parks the task (None: the tool is not resumable, it never parks).
        self._park_after = park_after
        self._asking = anyio.Lock()  # one step of questions at a time: a second elicit waits for the first
        self.waiting_for_input = False
        # A re-run continues from the progress its last run recorded, not from 0.
        self._progress: Progress | None = progress
        self.reported_at: float | None = None  # wall clock of the last report made here
        self._checkpoint: str | None = None
        self._dirty = False
        self._cancelled = False
        self._logged_stage: int | None = None

    async def checkpoint(self, state: Any = None) -> None:
        if state is not None:
            # Recorded here, written by the lease loop with the next renewal (no write of its own).
            self._checkpoint = checkpoint_json(state)
            self._dirty = True
        await anyio.sleep(0)
        self.raise_if_cancelled()

    async def sleep(self, seconds: float) -> None:
        if self._park_after is None or seconds < self._park_after:
            await anyio.sleep(seconds)
            self.raise_if_cancelled()
            return
        raise TaskParked(time.time() + seconds)

    async def store_bytes(self, name: str, data: bytes) -> None:
        if self._files is None:
            await super().store_bytes(name, data)
            return
        await self._files.store(name, data)

    async def load_bytes(self, name: str) -> bytes | None:
        return None if self._files is None else await self._files.load(name)

    def take_checkpoint(self) -> str | None:
        """The checkpoint recorded since the last renewal (None if none), handed to the store."""
        pending, self._checkpoint = self._checkpoint, None
        return pending

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        # Recorded here, written by the lease loop with the next renewal: a tool may report far
        # more often than the store should be written. Listeners here are told at once.
        self._progress = (float(progress), None if total is None else float(total), message)
        self.reported_at = time.time()
        self._log_stage(float(progress), total)
        self._dirty = True
        self._on_update()
        await anyio.sleep(0)

    def _log_stage(self, progress: float, total: float | None) -> None:
        """Log the first report, then each quarter reached (each minute when there is no total).

        A few lines per task however often the tool reports. Numbers only: the progress
        message is the tool's own text and may quote its input.
        """
        stage = int(4 * progress / total) if total else int(time.monotonic() // PROGRESS_LOG_SECONDS)
        if stage != self._logged_stage:
            self._logged_stage = stage
            logger.info("task progress", extra={"progress": progress, "total": total})

    async def elicit(self, message: str, schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
        return (await self.elicit_many({"answer": (message, schema)}))["answer"]

    async def elicit_many(
        self, questions: Mapping[str, tuple[str, type[BaseModel]]]
    ) -> dict[str, ElicitationResult[Any]]:
        check_question_keys(questions)
        results: dict[str, ElicitationResult[Any]] = {}
        # Asked together; an answer that does not fit is asked again (with what was wrong), the others kept.
        asking = {key: (message, render_elicitation_schema(schema)) for key, (message, schema) in questions.items()}
        for _ in range(MAX_INPUT_ATTEMPTS):
            async with self._asking:
                # Cleared only when the answers came: if the deadline cancels the wait, the
                # worker's failure message can still say what the work was doing.
                self.waiting_for_input = True
                answers = await self._ask(asking)
                self.waiting_for_input = False
            retry: dict[str, tuple[str, dict[str, Any]]] = {}
            for key, answer in answers.items():
                message, schema = questions[key]
                try:
                    results[key] = _outcome(answer, schema)
                except ValidationError as exc:
                    retry[key] = (
                        f"That answer did not fit ({problems(exc, whole='content')}). {message}",
                        asking[key][1],
                    )
            if not retry:
                return {key: results[key] for key in questions}
            asking = retry
        unanswered = "; ".join(questions[key][0] for key in asking)
        raise ToolError(f"no answer that fits after {MAX_INPUT_ATTEMPTS} attempts to ask: {unanswered}")

    def take_progress(self) -> Progress | None:
        self._dirty = False
        return self._progress

    def keep_progress(self, checkpoint: str | None = None) -> None:
        """The last report (and checkpoint) taken was not written: write it with the next renewal."""
        if checkpoint is not None and self._checkpoint is None:
            self._checkpoint = checkpoint
        if self._progress is not None or checkpoint is not None:
            self._dirty = True

    @property
    def last_progress(self) -> Progress | None:
        return self._progress

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def mark_cancelled(self) -> None:
        self._cancelled = True


def _outcome(answer: Mapping[str, Any], schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
    """The tool's view of one answer; ValidationError when accepted content does not fit `schema`."""
    if answer.get("action") == "decline":
        return DeclinedElicitation()
    if answer.get("action") == "cancel":
        return CancelledElicitation()
    return AcceptedElicitation(data=schema.model_validate(answer.get("content") or {}))
