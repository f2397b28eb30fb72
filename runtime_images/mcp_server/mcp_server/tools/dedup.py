"""Real work that needs a decision halfway: find a CSV file's duplicate rows, ask, then write a clean copy.

The question is asked with `ctx.elicit`. As a durable task it waits in the task store
(callers see `input_required`), so it can be answered from another session or after a
reconnect, and the work keeps its lease while it waits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Annotated, Literal

from mcp.server.elicitation import AcceptedElicitation
from pydantic import BaseModel, Field

from mcp_server.tooling import TaskContext, ToolSpec, tool
from mcp_server.tools.csv_summary import CsvPath, _resolve


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
    return hashlib.blake2b("\x1f".join(row).encode(), digest_size=16).digest()


def dedup_tool(dataset_root: Path) -> ToolSpec:
    # Runs only as a task: its question may wait for a person. Resumable: after a lost worker it
    # is run again and asks again; the copy is written to a temporary file and renamed, so a
    # re-run never leaves a half-written copy.
    @tool(mode="task", max_duration_seconds=8 * 3600, resumable=True)
    async def deduplicate_csv(
        path: CsvPath,
        ctx: TaskContext,
        chunk_rows: Annotated[int, Field(ge=100, le=1_000_000, description="rows per progress step")] = 50_000,
    ) -> DedupReport:
        """Find the duplicate rows of a CSV file and, if there are any, ask whether to write a copy without them.

        Progress is in bytes: reading the file is the first half, writing the copy the second.
        The copy is `<name>.dedup.csv` next to the file.
        """
        file = _resolve(dataset_root, path)
        size = file.stat().st_size
        first_seen: dict[bytes, int] = {}
        last_seen: dict[bytes, int] = {}
        rows = 0
        with file.open("rb") as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            header = next(reader, None)
            for row in reader:
                key = _digest(row)
                first_seen.setdefault(key, rows)
                last_seen[key] = rows
                rows += 1
                if rows % chunk_rows == 0:
                    done = raw.tell()
                    await ctx.report_progress(done, 2 * size, f"{rows} rows read")
                    await ctx.checkpoint()
        duplicates = rows - len(first_seen)
        await ctx.report_progress(size, 2 * size, f"{rows} rows read, {duplicates} duplicates")
        report = DedupReport(path=path, rows=rows, duplicate_rows=duplicates, outcome="no duplicates")
        if duplicates == 0 or header is None:
            return report
        target = file.with_name(f"{file.stem}.dedup.csv")
        answer = await ctx.elicit(
            f"{path} has {duplicates} duplicate rows out of {rows}. "
            f"Write a copy without them to {target.relative_to(dataset_root.resolve())}?",
            DedupDecision,
        )
        if not isinstance(answer, AcceptedElicitation):
            report.outcome = "declined" if answer.action == "decline" else "cancelled"
            return report
        if not answer.data.write_copy:
            report.outcome = "not requested"
            return report
        keep = first_seen if answer.data.keep == "first" else last_seen
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        written = 0
        try:
            with file.open("rb") as raw, partial.open("w", encoding="utf-8", newline="") as out:
                reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
                writer = csv.writer(out)
                writer.writerow(next(reader))
                for index, row in enumerate(reader):
                    if keep[_digest(row)] == index:
                        writer.writerow(row)
                        written += 1
                    if (index + 1) % chunk_rows == 0:
                        await ctx.report_progress(size + raw.tell(), 2 * size, f"{index + 1} rows copied")
                        await ctx.checkpoint()
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        await ctx.report_progress(2 * size, 2 * size, f"{written} rows written")
        report.outcome = "written"
        report.written = str(target.relative_to(dataset_root.resolve()))
        report.rows_written = written
        return report

    return deduplicate_csv
