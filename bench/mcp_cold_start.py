"""Cold start: process start to the first answered `initialize`: the MCP server, a bare mcp hello world, FastMCP.

Each is started the way its image would start it (`python <entry>` on a free loopback port; uvicorn
with uvloop and httptools) and polled with the same raw initialize POST until one succeeds:
- hello world: a bare mcp 2.3.0 MCPServer with one tool, in the kit's environment;
- mcp_server: `python -m mcp_server` (SQLite store, example tools), in the kit's environment;
- fastmcp: FastMCP 4.1.4 with fastmcp-tasks on Docket memory:// and the same task tool
  (bench/fastmcp_server.py), in its own environment (`make bench-env`; left out without it).
The kit's modules are compiled to bytecode first, as the image's build does: otherwise each run
would compile them from source (PYTHONDONTWRITEBYTECODE=1 here and in the image) while the
packages in the environments are precompiled. Prints medians of wall time and of the process's
CPU time to that first answer, and the ratios (target: mcp_server within 1.15x of the hello
world, and faster than FastMCP). Not part of the test suite.

Run:  .venv/mcp/bin/python bench/mcp_cold_start.py [--runs 9] [--fastmcp-python .venv/bench-fastmcp/bin/python]
"""

from __future__ import annotations

import argparse
import compileall
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
FASTMCP_SERVER = REPO / "bench" / "fastmcp_server.py"
FASTMCP_PYTHON = REPO / ".venv" / "bench-fastmcp" / "bin" / "python"
CLK_TCK = os.sysconf("SC_CLK_TCK")

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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def time_to_initialize(argv: list[str], port: int, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, the server process's CPU seconds) from process start to the first answered initialize."""
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
                        return time.perf_counter() - t0, cpu_seconds(proc.pid)
                except httpx2.TransportError:
                    pass
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--fastmcp-python",
        default=str(FASTMCP_PYTHON) if FASTMCP_PYTHON.exists() else None,
        help="the bench environment's interpreter (make bench-env); without one, FastMCP is left out",
    )
    args = parser.parse_args()
    if args.fastmcp_python:  # absolute (servers start in other folders), symlinks kept (a venv's python is one)
        args.fastmcp_python = os.path.abspath(args.fastmcp_python)
    # As the image's build does (Dockerfile): the kit's modules precompiled, like the environments' packages.
    for package in ("mcp_server", "kit_contracts"):
        compileall.compile_dir(str(IMAGE_DIR / package), quiet=1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    hello = tmp / "hello_server.py"
    hello.write_text(HELLO)
    names = ["hello world", "mcp_server"] + (["fastmcp"] if args.fastmcp_python else [])
    if not args.fastmcp_python:
        print("FastMCP left out: no bench environment (make bench-env, or --fastmcp-python)")
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for run in range(args.runs):
        # Interleaved, so page-cache warmth and machine noise hit all alike.
        for name in names:
            port = free_port()
            env = {**os.environ, "TASK_SQLITE_PATH": str(tmp / f"t{run}.sqlite3"), "LOG_LEVEL": "WARNING"}
            if name == "hello world":
                argv = [sys.executable, str(hello), str(port)]
            elif name == "fastmcp":
                argv = [args.fastmcp_python, str(FASTMCP_SERVER), "--port", str(port)]
            else:
                argv = [sys.executable, "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(port)]
            timings[name].append(time_to_initialize(argv, port, env))
    wall = {name: statistics.median(w for w, _ in values) for name, values in timings.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in timings.items()}
    for name, values in timings.items():
        walls = [w for w, _ in values]
        print(
            f"{name:>12}: median {wall[name] * 1000:7.0f} ms"
            f"  (min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}, runs {len(values)}),"
            f" CPU {cpu[name] * 1000:.0f} ms"
        )
    print(
        f"mcp_server/hello world: {wall['mcp_server'] / wall['hello world']:.2f}x wall,"
        f" {cpu['mcp_server'] / cpu['hello world']:.2f}x CPU (target <= 1.15x)"
    )
    if "fastmcp" in wall:
        print(
            f"mcp_server/fastmcp: {wall['mcp_server'] / wall['fastmcp']:.2f}x wall,"
            f" {cpu['mcp_server'] / cpu['fastmcp']:.2f}x CPU (target < 1)"
        )


if __name__ == "__main__":
    main()
