"""The benchmarks' FastMCP peer: the same task tool on FastMCP 4.1.4 with fastmcp-tasks 4.1.4 (SEP-2663 on Docket).

Run with the bench environment (`make bench-env`), never the kit's (fastmcp-tasks pins fastmcp 4.1.4):
    .venv/bench-fastmcp/bin/python bench/fastmcp_server.py --port 8123 --concurrency 500

`progress_every_second` sleeps `seconds` seconds and reports progress once a second, as the kit's
bench tool does; fastmcp-tasks runs it as a task when the client declares the tasks extension
(`tools/call` answered with a task, then `tasks/get`). Docket's backend is `memory://` (one process,
nothing persisted) and its worker runs `--concurrency` tasks at once: the default, 10, would queue
a load test's tasks behind each other. Served like the kit: uvicorn with uvloop and httptools
(picked up automatically), start-up objects frozen before serving.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from datetime import timedelta

import uvicorn
from fastmcp import Context, FastMCP
from fastmcp.utilities.tasks import TaskConfig
from fastmcp_tasks import TasksExtension


def build(concurrency: int) -> FastMCP:
    server = FastMCP("fastmcp-tasks-bench")
    server.add_extension(TasksExtension(url="memory://", concurrency=concurrency))

    # As the kit's bench server (TASK_POLL_INTERVAL_MS=1000); the bench's client polls every 0.5 s anyway.
    @server.tool(task=TaskConfig(mode="optional", poll_interval=timedelta(seconds=1)))
    async def progress_every_second(seconds: int, ctx: Context) -> dict[str, int]:
        """Reports progress every second."""
        for second in range(1, seconds + 1):
            await asyncio.sleep(1)  # stands in for one second of work
            await ctx.report_progress(second, seconds, f"{second}/{seconds} s")
        return {"seconds": seconds}

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=10, help="Docket worker concurrency (FastMCP's default 10)")
    args = parser.parse_args()
    app = build(args.concurrency).http_app(path="/mcp")
    gc.freeze()  # the same start-up as the kit's entry point (mcp_server.app.settle_heap)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
