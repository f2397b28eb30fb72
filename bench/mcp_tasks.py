"""Benchmark: N concurrent durable tasks over loopback HTTP, against two baselines.

All three servers are on the same mcp 2.3.0 SDK and speak the same SEP-2663 task wire (`tools/call`
answered with a task, `tasks/get`):
- engine: the kit (SQLite store, leases, progress writes, memory events, logs and metrics);
- baseline: the same MCPServer keeping tasks in a dict (no persistence, no leases, no memory events);
- fastmcp: FastMCP 4.1.4 with fastmcp-tasks 4.1.4 on Docket's memory:// backend, worker concurrency
  raised to N (bench/fastmcp_server.py, run from its own environment: `make bench-env`).
Each task reports progress once a second for --task-seconds (a sleep stands in for the work here:
this measures the engine, not a tool). Tasks are created with the real mcp client (the tasks
extension declared); every running task is then polled with `tasks/get` every half second, four
polls in flight, sent as the mcp client sends them from a plain HTTP client (Poller, below: the mcp
client's own cost per request would otherwise be most of every server's latency). A last phase polls
one task one request at a time: each server's own time and CPU per poll, nothing queued.

Run with the MCP server's environment:
    .venv/mcp/bin/python bench/mcp_tasks.py [--n 50 200 500] [--fastmcp-python .venv/bench-fastmcp/bin/python]
Prints latencies, server CPU and RSS, and the engine's ratios to both. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "runtime_images" / "mcp_server"
FASTMCP_SERVER = REPO / "bench" / "fastmcp_server.py"
FASTMCP_PYTHON = REPO / ".venv" / "bench-fastmcp" / "bin" / "python"
KINDS = ("baseline", "engine", "fastmcp")
sys.path.insert(0, str(IMAGE_DIR))
sys.path.insert(0, str(REPO / "tests" / "mcp_server"))

from mcp_server.tooling import TaskContext, tool  # noqa: E402 - needs the path above

CONTEXT = {
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "bench",
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id": "bench-session",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- servers (run in a child process)
async def _progress_task(seconds: int, ctx: Any) -> dict[str, int]:
    import anyio

    for second in range(1, seconds + 1):
        await anyio.sleep(1)  # stands in for one second of work
        await ctx.report_progress(second, seconds, f"{second}/{seconds} s")
    return {"seconds": seconds}


def serve_engine(port: int) -> None:
    import uvicorn
    from mcp_server.app import build, settle_heap
    from mcp_server.settings import load_settings

    @tool(mode="either", max_duration_seconds=3600)
    async def progress_every_second(seconds: int, ctx: TaskContext) -> dict[str, int]:
        """Reports progress every second."""
        return await _progress_task(seconds, ctx)

    assembled = build(load_settings(), [progress_every_second])
    settle_heap()  # as `python -m mcp_server` does
    uvicorn.run(assembled.app, host="127.0.0.1", port=port, log_level="warning")


def serve_baseline(port: int) -> None:
    """The articles' pattern: a dict of tasks, asyncio tasks, nothing persisted."""
    import asyncio
    from datetime import UTC, datetime

    import uvicorn
    from mcp.server.context import ServerRequestContext
    from mcp.server.extension import Extension, MethodBinding
    from mcp.server.mcpserver import MCPServer
    from mcp.shared.exceptions import MCPError
    from mcp_types import RequestParams

    tasks: dict[str, dict[str, Any]] = {}
    running: set[asyncio.Task[Any]] = set()

    class Ctx:
        def __init__(self, task: dict[str, Any]) -> None:
            self.task = task

        async def report_progress(self, progress: float, total: float, message: str) -> None:
            self.task["statusMessage"] = message
            self.task["lastUpdatedAt"] = datetime.now(UTC).isoformat()

    async def run(task: dict[str, Any], seconds: int) -> None:
        result = await _progress_task(seconds, Ctx(task))
        task["status"] = "completed"
        task["result"] = {"content": [{"type": "text", "text": str(result)}], "structuredContent": result}

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        if ctx.method == "tools/call" and (ctx.params or {}).get("name") == "progress_every_second":
            now = datetime.now(UTC).isoformat()
            task = {"taskId": str(uuid.uuid4()), "status": "working", "createdAt": now, "lastUpdatedAt": now}
            task.update(ttlMs=3_600_000, pollIntervalMs=1000)
            tasks[task["taskId"]] = task
            job = asyncio.get_running_loop().create_task(run(task, ctx.params["arguments"]["seconds"]))
            running.add(job)
            job.add_done_callback(running.discard)
            return {"resultType": "task", **{k: v for k, v in task.items() if k != "result"}}
        return await call_next(ctx)

    class Params(RequestParams):
        task_id: str

    async def get(ctx: ServerRequestContext[Any, Any], params: Params) -> dict[str, Any]:
        task = tasks.get(params.task_id)
        if task is None:
            raise MCPError(code=-32602, message="not found")
        return dict(task)

    class Tasks(Extension):
        identifier = "io.modelcontextprotocol/tasks"

        def methods(self) -> list[MethodBinding]:
            return [MethodBinding("tasks/get", Params, get)]

    server: MCPServer[Any] = MCPServer("baseline", extensions=[Tasks()], middleware=[middleware])

    @server.tool()
    async def progress_every_second(seconds: int) -> dict[str, int]:
        """Reports progress every second."""
        return {"seconds": seconds}

    app = server.streamable_http_app(host="127.0.0.1")
    gc.freeze()  # the same start-up as the kit's entry point (mcp_server.app.settle_heap)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# ---------------------------------------------------------------- measurement (parent process)
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:  # e.g. no steady-state poll: creating N tasks took longer than a task runs
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Poller:
    """`tasks/get` as the mcp client sends it (2026-07-28, stateless: the same headers and body, byte for
    byte but the id), from a plain keep-alive HTTP client. The mcp client spends about 2.5 ms of its own
    CPU per request on this machine (its models, its session, its extension hooks), three times what
    a server spends answering; polled through it, every server's latency is mostly the load
    generator's. Creates go through the real mcp client; the answer to every poll is parsed and its
    status checked.
    """

    def __init__(self, url: str) -> None:
        import httpx2

        self.url = url
        self.http = httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_keepalive_connections=8))
        self.ids = itertools.count(1_000_000)

    async def get(self, task_id: str) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0",
            "id": next(self.ids),
            "method": "tasks/get",
            "params": {
                "taskId": task_id,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientInfo": {"name": "mcp", "version": "0.1.0"},
                    "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
                },
            },
        }
        headers = {
            **CONTEXT,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tasks/get",
            "Mcp-Name": task_id,
        }
        response = await self.http.post(self.url, content=json.dumps(body, separators=(",", ":")), headers=headers)
        text = response.text
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
        answer = json.loads(text)
        if "result" not in answer:
            raise RuntimeError(f"tasks/get {task_id}: {answer}")
        return answer["result"]

    async def aclose(self) -> None:
        await self.http.aclose()


async def drive(url: str, n: int, task_seconds: int, pid: int) -> dict[str, Any]:
    rss_idle = proc_rss_mb(pid)
    cpu0 = proc_cpu_seconds(pid)
    # The load generator's own full collections (60-90 ms every few seconds with this many
    # requests in flight) would be counted as server latency: paused while measuring, as
    # timeit does. The servers keep their collectors on.
    gc.collect()
    gc.disable()
    try:
        return await _drive(url, n, task_seconds, pid, rss_idle, cpu0)
    finally:
        gc.enable()
        gc.collect()


async def _drive(url: str, n: int, task_seconds: int, pid: int, rss_idle: float, cpu0: float) -> dict[str, Any]:
    import anyio
    from tests_support import client, tasks_extension

    create_lat: list[float] = []
    get_lat: list[float] = []
    # tasks/get while all N run (steady state) vs. including the seconds in which they finish
    # together (a burst of terminal writes and result events the baseline does not make).
    get_steady: list[float] = []
    # (seconds since the first create, latency) of every poll: where in the run the slow ones fall.
    timeline: list[tuple[float, float]] = []
    ids: list[str] = []
    async with client(url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
        # Bounded client concurrency: on a 2-core machine the Python client, not the server,
        # is what queues requests when hundreds are in flight at once.
        limit = anyio.Semaphore(16)

        async def create() -> None:
            async with limit:
                t0 = time.perf_counter()
                handle = await session.session.call_tool(
                    "progress_every_second", {"seconds": task_seconds}, allow_claimed=True
                )
                create_lat.append(time.perf_counter() - t0)
                ids.append(handle.task_id)

        started = time.monotonic()
        t_first = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(create)
        rss_peak = proc_rss_mb(pid)
        done: set[str] = set()

        async def polls(queue: Iterator[tuple[float, str]]) -> None:
            # One of four pollers taking (slot, id) from a shared queue: at most four polls in
            # flight, each sent at its slot. A round's polls are spread evenly over its half
            # second, as independent clients' would be: sent together after an idle pause, the
            # first four of every round waited 10-13 ms (the machine waking up), whichever the server.
            for slot, task_id in queue:
                await anyio.sleep(max(0.0, slot - time.monotonic()))
                t0 = time.perf_counter()
                state = await poller.get(task_id)
                get_lat.append(time.perf_counter() - t0)
                timeline.append((t0 - t_first, time.perf_counter() - t0))
                if not done and not finishing:
                    get_steady.append(time.perf_counter() - t0)
                if state["status"] != "working":
                    done.add(task_id)

        finishing = False
        poller = Poller(url)
        while len(done) < n:
            # Tasks started within the creation window; the first ones end task_seconds later.
            finishing = time.monotonic() - started > task_seconds - 0.5
            pending = [task_id for task_id in ids if task_id not in done]
            round_start = time.monotonic()
            queue = iter([(round_start + i * 0.5 / len(pending), task_id) for i, task_id in enumerate(pending)])
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(polls, queue)
            rss_peak = max(rss_peak, proc_rss_mb(pid))
            await anyio.sleep(max(0.0, round_start + 0.5 - time.monotonic()))
        await poller.aclose()
    cpu = proc_cpu_seconds(pid) - cpu0
    return {
        "create_p50": pct(create_lat, 0.5),
        "create_p99": pct(create_lat, 0.99),
        "get_p50": pct(get_lat, 0.5),
        "get_p99": pct(get_lat, 0.99),
        "steady_p50": pct(get_steady, 0.5),
        "steady_p99": pct(get_steady, 0.99),
        "cpu_s": cpu,
        "rss_idle": rss_idle,
        "rss_peak": rss_peak,
        "rss_per_task_kb": (rss_peak - rss_idle) * 1024 / n,
        "timeline": timeline,
    }


async def one_at_a_time(url: str, pid: int, polls: int = 1000) -> dict[str, float]:
    """tasks/get of one running task, one poll at a time: the server's own time per poll.

    Under load the client (four polls in flight, a Python process on the same two cores) takes most
    of each poll's latency, alike for every server; here nothing queues, so what differs between the
    servers is theirs: latency p50/p99 and the server's CPU per poll.
    """
    from tests_support import client, tasks_extension

    gc.collect()
    gc.disable()
    try:
        async with client(url, CONTEXT, mode="auto", extensions=[tasks_extension()]) as session:
            handle = await session.session.call_tool("progress_every_second", {"seconds": 600}, allow_claimed=True)
            poller = Poller(url)
            for _ in range(100):  # warm-up, not counted
                await poller.get(handle.task_id)
            latencies = []
            cpu0 = proc_cpu_seconds(pid)
            for _ in range(polls):
                t0 = time.perf_counter()
                await poller.get(handle.task_id)
                latencies.append(time.perf_counter() - t0)
            cpu = proc_cpu_seconds(pid) - cpu0
            await poller.aclose()
    finally:
        gc.enable()
    return {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "cpu_ms": cpu * 1000 / polls}


def start(kind: str, tmp: Path, n: int, fastmcp_python: str | None) -> tuple[subprocess.Popen[bytes], str]:
    import httpx2

    port = free_port()
    env = {
        **os.environ,
        "TASK_SQLITE_PATH": str(tmp / f"{kind}-{port}.sqlite3"),
        "RESULT_SINK_SQLITE_PATH": str(tmp / f"{kind}-{port}-results.sqlite3"),
        "TASK_POLL_INTERVAL_MS": "1000",
        "LOG_LEVEL": "INFO",  # the image's default: about ten JSON lines per task
        # One bench caller starts all N tasks: the per-actor quotas (20 running, 30 a minute) lifted.
        "QUOTA_RUNNING_TASKS": "1000",
        "QUOTA_TASKS_PER_MINUTE": "10000",
    }
    # Server output (JSON logs, embedded metrics) goes to a file, as it would to the
    # platform's log agent: the engine still pays for writing it.
    log = (tmp / f"{kind}-{port}.log").open("wb")
    if kind == "fastmcp":
        assert fastmcp_python is not None
        # Docket's worker runs 10 tasks at once by default: raised to N, or tasks would queue.
        argv = [fastmcp_python, str(FASTMCP_SERVER), "--port", str(port), "--concurrency", str(n)]
    else:
        argv = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=IMAGE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx2.post(f"http://127.0.0.1:{port}/mcp", json={}, timeout=1)
            return proc, f"http://127.0.0.1:{port}/mcp"
        except httpx2.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def slow_polls(timeline: list[tuple[float, float]], threshold_ms: float) -> str:
    """'t=8.5s:12/240' per half second holding a poll slower than the threshold (slow/all polls in it)."""
    buckets: dict[int, list[int]] = {}
    for at, latency in timeline:
        counts = buckets.setdefault(int(at * 2), [0, 0])
        counts[0] += latency * 1000 > threshold_ms
        counts[1] += 1
    slow = [f"t={b / 2:.1f}s:{s}/{a}" for b, (s, a) in sorted(buckets.items()) if s]
    return f"{sum(s for s, _ in buckets.values())} polls > {threshold_ms:g} ms: " + (" ".join(slow) or "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--task-seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs per N; medians are printed")
    parser.add_argument(
        "--timeline",
        type=float,
        metavar="MS",
        help="also print, per half second of each run, how many tasks/get took longer than MS",
    )
    parser.add_argument(
        "--fastmcp-python",
        default=str(FASTMCP_PYTHON) if FASTMCP_PYTHON.exists() else None,
        help="the bench environment's interpreter (make bench-env); without one, FastMCP is left out",
    )
    parser.add_argument("--serve", choices=["engine", "baseline"])
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.fastmcp_python:  # absolute (servers start in other folders), symlinks kept (a venv's python is one)
        args.fastmcp_python = os.path.abspath(args.fastmcp_python)
    if args.serve == "engine":
        return serve_engine(args.port)
    if args.serve == "baseline":
        return serve_baseline(args.port)

    import anyio

    tmp = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    kinds = KINDS if args.fastmcp_python else KINDS[:2]
    if not args.fastmcp_python:
        print("FastMCP left out: no bench environment (make bench-env, or --fastmcp-python)")
    print("end to end (real MCP client over loopback HTTP, 2026-07-28 tasks extension)")
    print(
        f"{'N':>4} {'server':>8} {'create p50/p99':>15} {'get p50/p99':>13} {'steady p50/p99':>13}"
        f" {'CPU s':>6} {'RSS MB':>10} {'KB/task':>8}"
    )
    for n in args.n:
        runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):
            # Interleaved, so a noisy neighbour on the machine hits every server alike.
            for kind in kinds:
                proc, url = start(kind, tmp, n, args.fastmcp_python)
                try:
                    runs[kind].append(anyio.run(drive, url, n, args.task_seconds, proc.pid))
                finally:
                    proc.terminate()
                    proc.wait(timeout=15)
        results = {
            kind: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "timeline"}
            for kind, rs in runs.items()
        }
        for kind, r in results.items():
            print(
                f"{n:>4} {kind:>8} {r['create_p50']:>7.1f}/{r['create_p99']:<7.1f}"
                f" {r['get_p50']:>6.1f}/{r['get_p99']:<6.1f} {r['steady_p50']:>6.1f}/{r['steady_p99']:<6.1f}"
                f" {r['cpu_s']:>6.1f} {r['rss_idle']:>4.0f}->{r['rss_peak']:<4.0f} {r['rss_per_task_kb']:>8.1f}"
            )
        e, b = results["engine"], results["baseline"]
        ratios = sorted(
            re["create_p50"] / rb["create_p50"] for re, rb in zip(runs["engine"], runs["baseline"], strict=True)
        )
        engine_p99s = ", ".join(f"{r['get_p99']:.1f}" for r in runs["engine"])
        print(
            f"     engine/baseline: create p50 {e['create_p50'] / b['create_p50']:.2f}x"
            f" (per run {', '.join(f'{x:.2f}' for x in ratios)}; target <= 2x),"
            f" get p99 {e['get_p99'] / b['get_p99']:.2f}x; engine get p99 {e['get_p99']:.1f} ms"
            f" (per run {engine_p99s}),"
            f" steady {e['steady_p99']:.1f} ms (target < 50 ms at N=500)"
        )
        if "fastmcp" in results:
            f = results["fastmcp"]
            print(
                f"     fastmcp/engine (> 1: the engine is ahead): create p50 {f['create_p50'] / e['create_p50']:.2f}x"
                f" p99 {f['create_p99'] / e['create_p99']:.2f}x, get p50 {f['get_p50'] / e['get_p50']:.2f}x"
                f" p99 {f['get_p99'] / e['get_p99']:.2f}x, CPU {f['cpu_s'] / e['cpu_s']:.2f}x,"
                f" RSS peak {f['rss_peak'] / e['rss_peak']:.2f}x"
            )
        if args.timeline:
            for kind, rs in runs.items():
                for i, r in enumerate(rs):
                    print(f"     {kind} run {i + 1}: {slow_polls(r['timeline'], args.timeline)}")
    print("one poll at a time (one client, one running task, 1,000 tasks/get after 100 unmeasured):")
    single: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.repeat):
        for kind in kinds:
            proc, url = start(kind, tmp, 10, args.fastmcp_python)
            try:
                single[kind].append(anyio.run(one_at_a_time, url, proc.pid))
            finally:
                proc.kill()  # its task still runs: nothing to wait for
                proc.wait(timeout=15)
    for kind, rs in single.items():
        r = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
        single[kind] = [r]
        print(f"{kind:>13}: tasks/get p50/p99 {r['p50']:.2f}/{r['p99']:.2f} ms, server CPU {r['cpu_ms']:.2f} ms/poll")
    if "fastmcp" in single:
        f, e = single["fastmcp"][0], single["engine"][0]
        print(
            f"     fastmcp/engine (> 1: the engine is ahead): p50 {f['p50'] / e['p50']:.2f}x,"
            f" p99 {f['p99'] / e['p99']:.2f}x, CPU per poll {f['cpu_ms'] / e['cpu_ms']:.2f}x"
        )
    print("engine only (in process, SQLite, no HTTP): the store's share of those latencies")
    for n in args.n:
        create_ms, get_ms = anyio.run(engine_only, n, tmp)
        print(
            f"{n:>4} running: create p50/p99 {create_ms[0]:.2f}/{create_ms[1]:.2f} ms,"
            f" get p50/p99 {get_ms[0]:.3f}/{get_ms[1]:.3f} ms"
        )
    print(f"(medians of {args.repeat} interleaved runs per N and server; stores in {tmp})")


async def engine_only(n: int, tmp: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    import anyio
    from mcp_server.app import build
    from mcp_server.caller import Caller
    from mcp_server.metrics import TaskMetrics
    from mcp_server.settings import load_settings

    @tool(mode="either", max_duration_seconds=3600)
    async def progress_every_second(seconds: int, ctx: TaskContext) -> dict[str, int]:
        """Reports progress every second."""
        return await _progress_task(seconds, ctx)

    stem = tmp / f"inproc-{n}-{uuid.uuid4().hex[:6]}"
    settings = load_settings(
        {
            "TASK_SQLITE_PATH": f"{stem}.sqlite3",
            "RESULT_SINK_SQLITE_PATH": f"{stem}-results.sqlite3",
            "LOG_LEVEL": "WARNING",
            "QUOTA_RUNNING_TASKS": "1000",
            "QUOTA_TASKS_PER_MINUTE": "10000",
        }
    )
    engine = build(settings, [progress_every_second]).engine
    # The engine still formats and writes its metric lines, as in the server; not onto this report.
    engine.outcomes.metrics = TaskMetrics(settings.environment, stream=open(os.devnull, "w"))
    caller = Caller("bench", "bench-session", None)
    creates: list[float] = []
    gets: list[float] = []
    async with engine.running():
        ids = []
        for _ in range(n):
            t0 = time.perf_counter()
            ids.append((await engine.tasks.create(caller, "progress_every_second", {"seconds": 5})).task_id)
            creates.append(time.perf_counter() - t0)
        for _ in range(5):  # five rounds over all tasks while they run and report progress
            for task_id in ids:
                t0 = time.perf_counter()
                await engine.tasks.find(caller, task_id)
                gets.append(time.perf_counter() - t0)
            await anyio.sleep(0.5)
        while engine.busy:
            await anyio.sleep(0.2)
    return (pct(creates, 0.5), pct(creates, 0.99)), (pct(gets, 0.5), pct(gets, 0.99))


if __name__ == "__main__":
    main()
