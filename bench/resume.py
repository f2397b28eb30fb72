"""Checkpointed resume: a summarize_csv killed with kill -9 at 70 % and restarted on the same store,
against the same job run uninterrupted, on the real server (SQLite store).

Prints, per run: the uninterrupted time; the killed run's time to 70 %; the time from the restart
to completion (lease wait included); and the ratio of that remainder to the uninterrupted time.
Without checkpoints the remainder is the whole job again (about 1x, more with the lease wait);
with them it is what was left (about 0.3x). Not part of the test suite.

Run:  .venv/mcp/bin/python bench/resume.py [--rows 16000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "runtime_images" / "mcp_server"
HEADERS = {
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "bench",
    "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id": "bench-session",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
LEASE = "5"
STORE = "tasks.sqlite3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data: Path, store: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "TASK_SQLITE_PATH": str(data / store),
        "RESULT_SINK_SQLITE_PATH": str(data / "results.sqlite3"),
        "DATASET_ROOT": str(data),
        "TASK_LEASE_SECONDS": LEASE,
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=IMAGE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            httpx2.get(url + "/ping", timeout=1)
            return process, url
        except httpx2.TransportError:
            time.sleep(0.02)


def start_task(url: str) -> str:
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    opened = httpx2.post(
        url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}, headers=HEADERS
    )
    session = {**HEADERS, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
    arguments = {"path": "big.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 50_000}
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "start_summarize_csv", "arguments": arguments},
    }
    answer = httpx2.post(url + "/mcp", json=call, headers=session, timeout=30).text
    return answer.split('"task_id":"', 1)[1].split('"', 1)[0]


def row(data: Path, task_id: str) -> tuple[str, float, float]:
    with sqlite3.connect(data / STORE) as db:
        status, progress, total = db.execute(
            "SELECT status, COALESCE(progress, 0), COALESCE(total, 1) FROM tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
    return status, progress, total


def until(data: Path, task_id: str, done: float | None = None) -> float:
    began = time.perf_counter()
    while True:
        status, progress, total = row(data, task_id)
        if (done is None and status != "working") or (done is not None and progress / total >= done):
            return time.perf_counter() - began
        time.sleep(0.02)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write("region,amount\n")
        chunk = "".join(f"{('north', 'south', 'east', 'west')[i % 4]},{i % 997}\n" for i in range(100_000))
        for _ in range(rows // 100_000):
            out.write(chunk)


def one_run(rows: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_csv(data / "big.csv", rows)
        global STORE
        STORE = "whole.sqlite3"
        process, url = start(data, STORE)
        task_id = start_task(url)
        whole = until(data, task_id)
        process.terminate()
        process.wait()
        STORE = "killed.sqlite3"  # a store of its own: the killed run starts from nothing
        process, url = start(data, STORE)
        task_id = start_task(url)
        to_70 = until(data, task_id, 0.7)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process, url = start(data, STORE)
        rest = until(data, task_id)
        process.terminate()
        process.wait()
        status = row(data, task_id)[0]
        assert status == "completed", status
        return whole, to_70, rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=16_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [one_run(args.rows) for _ in range(args.runs)]
    for whole, to_70, rest in results:
        print(
            f"uninterrupted {whole:6.2f} s | killed at 70 % after {to_70:6.2f} s | restart to done {rest:6.2f} s "
            f"| remainder / uninterrupted {rest / whole:.2f}x"
        )
    ratio = statistics.median(rest / whole for whole, _, rest in results)
    print(f"median: after a kill at 70 %, finishing takes {ratio:.2f}x an uninterrupted run (lease {LEASE} s included)")


if __name__ == "__main__":
    main()
