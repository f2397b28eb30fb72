"""Cold start: process start to the first answered `initialize`, the MCP server vs a bare mcp hello world.

Both are started the same way (`python <entry>` on a free loopback port, same interpreter) and
polled with the same raw initialize POST until one succeeds. Prints medians and the ratio
(target: within 1.5x). Not part of the test suite.

Run:  .venv/mcp/bin/python bench/mcp_cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "runtime_images" / "mcp_server"

HELLO = """
import sys
import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("hello")

@server.tool()
def hello(name: str) -> str:
    return f"hello {name}"

uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "cold-start-bench", "version": "0"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_to_initialize(argv: list[str], port: int, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=IMAGE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx2.Client(timeout=2) as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{argv} exited with {proc.returncode}")
                try:
                    response = http.post(f"http://127.0.0.1:{port}/mcp", json=INITIALIZE, headers=HEADERS)
                    if response.status_code == 200 and "protocolVersion" in response.text:
                        return time.perf_counter() - t0
                except httpx2.TransportError:
                    pass
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    hello = tmp / "hello_server.py"
    hello.write_text(HELLO)
    timings: dict[str, list[float]] = {"hello world": [], "mcp_server": []}
    for run in range(args.runs):
        # Alternate, so page-cache warmth and machine noise hit both alike.
        for name in ("hello world", "mcp_server"):
            port = free_port()
            env = {**os.environ, "TASK_SQLITE_PATH": str(tmp / f"t{run}.sqlite3"), "LOG_LEVEL": "WARNING"}
            if name == "hello world":
                argv = [sys.executable, str(hello), str(port)]
            else:
                argv = [sys.executable, "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(port)]
            timings[name].append(time_to_initialize(argv, port, env))
    base = statistics.median(timings["hello world"])
    ours = statistics.median(timings["mcp_server"])
    for name, values in timings.items():
        print(
            f"{name:>12}: median {statistics.median(values) * 1000:7.0f} ms"
            f"  (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, runs {len(values)})"
        )
    print(f"ratio mcp_server/hello world: {ours / base:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
