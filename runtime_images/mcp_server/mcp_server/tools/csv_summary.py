"""Real work with real progress: a grouped aggregate over a CSV file, read in chunks, resumable.

Every chunk it checkpoints where it is (the byte offset of the next row) with its partial
aggregates; a re-run (a crash, a lost lease, a session's end) continues from there instead of
reading the file again. Aggregates too large for a checkpoint (a high-cardinality group_by) go
to the task's scratch file, which the checkpoint names.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from mcp_server.datasets import DatasetPath, Datasets
from mcp_server.tooling import TaskContext, ToolSpec, tool

# Aggregates up to this size ride in the checkpoint itself; larger ones in a scratch file.
INLINE_AGGREGATES_BYTES = 16 * 1024


class GroupStats(BaseModel):
    count: int
    total: float
    mean: float
    minimum: float
    maximum: float


class CsvSummary(BaseModel):
    path: str
    rows: int
    skipped_rows: int = Field(description="rows whose value was empty or not a number")
    groups: dict[str, GroupStats]


class Lines:
    """A binary file's lines, decoded, counting the bytes consumed: the offset of the next row.

    csv.reader pulls exactly the lines a row needs (quoted newlines included) and no more, so
    after each row `position` is where the next one starts: a checkpoint can resume there.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.position = raw.tell()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.raw.readline()
        if not line:
            raise StopIteration
        self.position += len(line)
        return line.decode("utf-8")


def file_identity(file: Path) -> dict[str, int]:
    """What a checkpoint must match to resume: the same file, unchanged."""
    stat = file.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def csv_summary_tool(dataset_root: Path) -> ToolSpec:
    datasets = Datasets(dataset_root)

    @tool(mode="either", max_duration_seconds=4 * 3600, resumable=True)
    async def summarize_csv(
        path: DatasetPath,
        value_column: Annotated[str, Field(min_length=1, description="numeric column to aggregate")],
        ctx: TaskContext,
        group_by: Annotated[str | None, Field(description="column to group by; omit for one overall group")] = None,
        chunk_rows: Annotated[int, Field(ge=100, le=1_000_000, description="rows per progress step")] = 50_000,
    ) -> CsvSummary:
        """Count, sum, mean, min and max of a numeric column of a CSV file, optionally per group.

        Reads the file in chunks and reports progress in bytes, so progress is exact.
        Resumable: a re-run continues from its last checkpoint (the next row's byte offset).
        """
        file = datasets.file(path)
        size = file.stat().st_size
        identity = {**file_identity(file), "value_column": value_column, "group_by": group_by}
        state = await _resumable_state(ctx, identity)
        stats: dict[str, list[float]] = state["stats"]  # group -> [count, total, min, max]
        rows, skipped = state["rows"], state["skipped"]
        with file.open("rb") as raw:
            raw.seek(state["offset"])
            lines = Lines(raw)
            reader = csv.reader(lines)
            header = state["header"] or next(reader, None) or []
            for column in (value_column, group_by):
                if column is not None and column not in header:
                    raise ToolError(f"column {column!r} not found: expected one of {header}")
            value_at = header.index(value_column)
            group_at = header.index(group_by) if group_by else None
            for row in reader:
                rows += 1
                try:
                    value = float(row[value_at])
                except (IndexError, ValueError):
                    value = math.nan
                if math.isnan(value):
                    skipped += 1
                else:
                    key = row[group_at] if group_at is not None and group_at < len(row) else "all"
                    entry = stats.get(key)
                    if entry is None:
                        stats[key] = [1, value, value, value]
                    else:
                        entry[0] += 1
                        entry[1] += value
                        entry[2] = min(entry[2], value)
                        entry[3] = max(entry[3], value)
                if rows % chunk_rows == 0:
                    done = lines.position
                    await ctx.report_progress(done, size, f"{rows} rows read ({done * 100 // max(size, 1)}%)")
                    where = {"offset": done, "rows": rows, "skipped": skipped, "header": header}
                    await _checkpoint(ctx, identity, where, stats)
        await ctx.report_progress(size, size, f"{rows} rows read (100%)")
        return CsvSummary(
            path=path,
            rows=rows,
            skipped_rows=skipped,
            groups={
                k: GroupStats(count=int(n), total=t, mean=t / n, minimum=lo, maximum=hi)
                for k, (n, t, lo, hi) in sorted(stats.items())
            },
        )

    return summarize_csv


async def _resumable_state(ctx: TaskContext, identity: dict[str, Any]) -> dict[str, Any]:
    """Where to start: the last checkpoint if it is of this very file and question, else the beginning."""
    fresh = {"offset": 0, "rows": 0, "skipped": 0, "header": None, "stats": {}}
    state = ctx.resume_state
    if not isinstance(state, dict) or state.get("identity") != identity:
        return fresh
    stats = state.get("stats")
    if stats is None:  # too many groups for the checkpoint: they are in the scratch file it names
        stored = await ctx.load_bytes(state["stats_file"])
        if stored is None:
            return fresh
        stats = json.loads(stored)
    return {**state, "stats": stats}


async def _checkpoint(ctx: TaskContext, identity: dict[str, Any], where: dict[str, Any], stats: dict[str, Any]) -> None:
    text = json.dumps(stats)
    if len(text) <= INLINE_AGGREGATES_BYTES:
        await ctx.checkpoint({"identity": identity, **where, "stats": stats})
        return
    # One file per checkpoint, named by its offset: a re-run may resume from an earlier
    # checkpoint than the last (the last one is written with a later lease renewal), and
    # must then find the aggregates of that one, not newer ones.
    name = f"aggregates-{where['offset']}.json"
    try:
        # The aggregates first: the checkpoint that names them is written after they are kept.
        await ctx.store_bytes(name, text.encode())
    except ToolError:
        await ctx.checkpoint()  # in the request nothing is kept, and nothing needs resuming
        return
    await ctx.checkpoint({"identity": identity, **where, "stats": None, "stats_file": name})
