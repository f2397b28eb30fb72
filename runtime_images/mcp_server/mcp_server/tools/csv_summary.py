"""Real work with real progress: a grouped aggregate over a CSV file, read in chunks."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from mcp_server.tooling import TaskContext, ToolSpec, tool


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


CsvPath = Annotated[
    str, Field(min_length=1, max_length=1024, description="CSV file, relative to the dataset directory")
]


def _resolve(root: Path, relative: str) -> Path:
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise ToolError(f"path={relative!r}: expected a path inside the dataset directory")
    if not candidate.is_file():
        raise ToolError(f"path={relative!r}: no such file in the dataset directory")
    return candidate


def csv_summary_tool(dataset_root: Path) -> ToolSpec:
    @tool(mode="either", max_duration_seconds=4 * 3600, resumable=True)
    async def summarize_csv(
        path: CsvPath,
        value_column: Annotated[str, Field(min_length=1, description="numeric column to aggregate")],
        ctx: TaskContext,
        group_by: Annotated[str | None, Field(description="column to group by; omit for one overall group")] = None,
        chunk_rows: Annotated[int, Field(ge=100, le=1_000_000, description="rows per progress step")] = 50_000,
    ) -> CsvSummary:
        """Count, sum, mean, min and max of a numeric column of a CSV file, optionally per group.

        Reads the file in chunks and reports progress in bytes, so progress is exact.
        Resumable: after a lost worker it is simply run again (it has no side effects).
        """
        file = _resolve(dataset_root, path)
        size = file.stat().st_size
        stats: dict[str, list[float]] = {}  # group -> [count, total, min, max]
        rows = skipped = 0
        with file.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            reader = csv.DictReader(text)
            header = reader.fieldnames or []
            for column in (value_column, group_by):
                if column is not None and column not in header:
                    raise ToolError(f"column {column!r} not found: expected one of {header}")
            for row in reader:
                rows += 1
                try:
                    value = float(row[value_column])
                except (TypeError, ValueError):
                    skipped += 1
                    continue
                if math.isnan(value):
                    skipped += 1
                    continue
                key = row[group_by] if group_by else "all"
                entry = stats.get(key)
                if entry is None:
                    stats[key] = [1, value, value, value]
                else:
                    entry[0] += 1
                    entry[1] += value
                    entry[2] = min(entry[2], value)
                    entry[3] = max(entry[3], value)
                if rows % chunk_rows == 0:
                    done = raw.tell()
                    await ctx.report_progress(done, size, f"{rows} rows read ({done * 100 // max(size, 1)}%)")
                    await ctx.checkpoint()
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
