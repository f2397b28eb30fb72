"""Testing a tool without a server: run its function with a recording context.

    from mcp_server.testing import run_tool

    async def test_counts_lines(tmp_path):
        run = await run_tool(count_lines, {"path": "a.csv"})
        assert run.result == 3 and run.progress[-1][0] == 3

`run_tool` validates the arguments the way the engine does, then calls the tool with a
`RecordingContext`: progress, checkpoints, stored files and questions are recorded; questions
are answered from `answers`; `crash_after=n` raises `Crashed` right after the n-th checkpoint
(the process died there), so a test can resume from what had been recorded:

    first = await run_tool(tool, args, crash_after=3)
    again = await run_tool(tool, args, resume_state=first.checkpoints[-1], files=first.files)

Resuming from an earlier checkpoint than the last one is what happens when the process dies
before its last checkpoint was written: a resumable tool must give the same result from any.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.elicitation import AcceptedElicitation, DeclinedElicitation, ElicitationResult

from mcp_server.engine.catalog import ToolCatalog
from mcp_server.store.base import Progress
from mcp_server.tooling import SchemaT, TaskContext, TaskParked, ToolSpec, checkpoint_json


class Crashed(Exception):
    """Raised by a RecordingContext where a test wanted the process to die."""


@dataclass
class RecordingContext(TaskContext):
    resume_state: Any = None
    files: dict[str, bytes] = field(default_factory=dict)
    answers: list[dict[str, Any] | None] = field(default_factory=list)
    crash_after: int | None = None
    park: bool = False
    progress: list[Progress] = field(default_factory=list)
    checkpoints: list[Any] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    task_id: str | None = "test-task"
    attempt: int = 1

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.progress.append((float(progress), None if total is None else float(total), message))
        await anyio.sleep(0)

    @property
    def cancelled(self) -> bool:
        return False

    async def checkpoint(self, state: Any = None) -> None:
        if state is not None:
            # Kept as the engine keeps it: serialized now, so later changes to `state` do not leak in.
            self.checkpoints.append(json.loads(checkpoint_json(state)))
            if self.crash_after is not None and len(self.checkpoints) >= self.crash_after:
                raise Crashed(f"after checkpoint {len(self.checkpoints)}")
        await anyio.sleep(0)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.park:
            raise TaskParked(seconds)

    async def store_bytes(self, name: str, data: bytes) -> None:
        self.files[name] = bytes(data)

    async def load_bytes(self, name: str) -> bytes | None:
        return self.files.get(name)

    async def elicit(self, message: str, schema: type[SchemaT]) -> ElicitationResult[SchemaT]:
        self.questions.append(message)
        answer = self.answers.pop(0) if self.answers else None
        if answer is None:
            return DeclinedElicitation()
        return AcceptedElicitation(data=schema.model_validate(answer))


@dataclass
class ToolRun:
    context: RecordingContext
    result: Any = None
    error: BaseException | None = None

    @property
    def progress(self) -> list[Progress]:
        return self.context.progress

    @property
    def checkpoints(self) -> list[Any]:
        return self.context.checkpoints

    @property
    def files(self) -> dict[str, bytes]:
        return self.context.files


async def run_tool(spec: ToolSpec, arguments: dict[str, Any], **context: Any) -> ToolRun:
    """Validate `arguments` as the engine does, run the tool once, and return what it did.

    A `Crashed` (crash_after) or a `TaskParked` ends the run with `error` set; any other
    exception is raised, as the tool raised it.
    """
    validated = ToolCatalog([spec]).validate(spec.name, arguments)
    ctx = RecordingContext(**context)
    run = ToolRun(ctx)
    try:
        run.result = await spec.fn(**validated, **{spec.context_param: ctx})
    except (Crashed, TaskParked) as stopped:
        run.error = stopped
    return run
