"""Real work that needs a decision halfway: find a CSV file's duplicate rows, ask, then write a clean copy.

The question is asked with `ctx.elicit`. As a durable task it waits in the task store
(callers see `input_required`), so it can be answered from another session or after a
reconnect, and the work keeps its lease while it waits.

Resumable from checkpoints: the hashing records, every chunk, the rows' digests in a scratch
file (one part per chunk, append-only) and checkpoints the next row's offset; once answered,
the decision is checkpointed too, so a re-run neither hashes again nor asks again. Writing the
copy is redone from the start if interrupted (to a temporary file, renamed at the end).
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Annotated, Literal

from mcp.server.elicitation import AcceptedElicitation
from pydantic import BaseModel, Field

from mcp_server.datasets import DatasetPath, Datasets
from mcp_server.tooling import TaskContext, ToolSpec, tool
from mcp_server.tools.csv_summary import Lines, file_identity

DIGEST = 16


class DedupDecision(BaseModel):
    write_copy: bool = Field(description="write a de-duplicated copy next to the file")
    keep: Literal["first", "last"] = Field("first", description="which of each set of duplicate rows to keep")


class DedupReport(BaseModel):
    path: str
    rows: int = Field(description="data rows read (the header excluded)")
    duplicate_rows: int = Field(description="rows equal to an earlier row")
    outcome: Literal["no duplicates", "written", "declined", "cancelled", "not requested"]
    written: str | None = Field(None, description="the de-duplicated copy, relative to the dataset directory")
    rows_written: int | None = None


def _digest(row: list[str]) -> bytes:
    return hashlib.blake2b("\x1f".join(row).encode(), digest_size=DIGEST).digest()


def dedup_tool(dataset_root: Path) -> ToolSpec:
    datasets = Datasets(dataset_root)

    # Runs only as a task: its question may wait for a person.
    @tool(mode="task", max_duration_seconds=8 * 3600, resumable=True)
    async def deduplicate_csv(
        path: DatasetPath,
        ctx: TaskContext,
        chunk_rows: Annotated[int, Field(ge=100, le=1_000_000, description="rows per progress step")] = 50_000,
    ) -> DedupReport:
        """Find the duplicate rows of a CSV file and, if there are any, ask whether to write a copy without them.

        Progress is in bytes: reading the file is the first half, writing the copy the second.
        The copy is `<name>.dedup.csv` next to the file.
        """
        file = datasets.file(path)
        size = file.stat().st_size
        identity = file_identity(file)
        state = ctx.resume_state if isinstance(ctx.resume_state, dict) else {}
        if state.get("identity") != identity:
            state = {"identity": identity, "phase": "hash", "offset": 0, "rows": 0, "parts": 0, "header": None}
        first_seen, last_seen = await _digests_so_far(ctx, state["parts"])
        rows, parts = state["rows"], state["parts"]
        header = state["header"]
        if state["phase"] == "hash":
            with file.open("rb") as raw:
                raw.seek(state["offset"])
                lines = Lines(raw)
                reader = csv.reader(lines)
                if header is None:
                    header = next(reader, None)
                chunk = bytearray()
                for row in reader:
                    key = _digest(row)
                    chunk += key
                    first_seen.setdefault(key, rows)
                    last_seen[key] = rows
                    rows += 1
                    if rows % chunk_rows == 0:
                        done = lines.position
                        await ctx.report_progress(done, 2 * size, f"{rows} rows read")
                        parts = await _keep_part(ctx, parts, chunk)
                        chunk = bytearray()
                        await ctx.checkpoint({**state, "offset": done, "rows": rows, "parts": parts, "header": header})
            state = {**state, "phase": "hashed", "rows": rows, "header": header}
        duplicates = rows - len(first_seen)
        await ctx.report_progress(size, 2 * size, f"{rows} rows read, {duplicates} duplicates")
        report = DedupReport(path=path, rows=rows, duplicate_rows=duplicates, outcome="no duplicates")
        if duplicates == 0 or header is None:
            return report
        target = file.with_name(f"{file.stem}.dedup.csv")
        decision = state.get("decision")
        if decision is None:
            answer = await ctx.elicit(
                f"{path} has {duplicates} duplicate rows out of {rows}. "
                f"Write a copy without them to {datasets.relative(target)}?",
                DedupDecision,
            )
            decision = (
                answer.data.model_dump() if isinstance(answer, AcceptedElicitation) else {"action": answer.action}
            )
            # Answered: a re-run goes straight to the copy, without hashing or asking again.
            await ctx.checkpoint({**state, "phase": "answered", "decision": decision})
        if "action" in decision:
            report.outcome = "declined" if decision["action"] == "decline" else "cancelled"
            return report
        if not decision["write_copy"]:
            report.outcome = "not requested"
            return report
        keep = first_seen if decision["keep"] == "first" else last_seen
        written = await _write_copy(ctx, file, target, keep, size)
        await ctx.report_progress(2 * size, 2 * size, f"{written} rows written")
        report.outcome = "written"
        report.written = datasets.relative(target)
        report.rows_written = written
        return report

    return deduplicate_csv


async def _keep_part(ctx: TaskContext, parts: int, chunk: bytearray) -> int:
    """Store this chunk's digests as the next part; the checkpoint that counts it is written after."""
    await ctx.store_bytes(f"digests-{parts}", bytes(chunk))
    return parts + 1


async def _digests_so_far(ctx: TaskContext, parts: int) -> tuple[dict[bytes, int], dict[bytes, int]]:
    """Rebuild first/last occurrence maps from the stored parts, in row order."""
    first: dict[bytes, int] = {}
    last: dict[bytes, int] = {}
    row = 0
    for part in range(parts):
        data = await ctx.load_bytes(f"digests-{part}")
        if data is None:
            raise RuntimeError(f"the scratch file digests-{part} of this task is gone: cannot resume")
        for at in range(0, len(data), DIGEST):
            key = data[at : at + DIGEST]
            first.setdefault(key, row)
            last[key] = row
            row += 1
    return first, last


async def _write_copy(ctx: TaskContext, file: Path, target: Path, keep: dict[bytes, int], size: int) -> int:
    # Written to a temporary file and renamed: a re-run never leaves a half-written copy.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    written = 0
    try:
        with file.open("rb") as raw, partial.open("w", encoding="utf-8", newline="") as out:
            lines = Lines(raw)
            reader = csv.reader(lines)
            writer = csv.writer(out)
            writer.writerow(next(reader))
            for index, row in enumerate(reader):
                if keep[_digest(row)] == index:
                    writer.writerow(row)
                    written += 1
                if (index + 1) % 50_000 == 0:
                    await ctx.report_progress(size + lines.position, 2 * size, f"{index + 1} rows copied")
                    await ctx.checkpoint()
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return written
