"""Agent cold start: process start to the first `/ping` 200, the agent vs a bare BedrockAgentCoreApp.

Every new AgentCore session is a fresh microVM, so this start-up is paid once per session.

Contenders, started the same way (`python -m <module>` from their folder, the same interpreter and
virtual environment, the same bytecode state), interleaved round by round so machine noise hits all
alike:
- bare: a BedrockAgentCoreApp module that imports strands' Agent and answers /ping (the baseline);
- agent: `python -m agent` with a loopback scripted model and no MCP_RUNTIME_URL;
- agent+mcp: the same with MCP_RUNTIME_URL pointing at the kit's MCP server, started once before the
  rounds from its own environment (SQLite store, no auth), as `make local` runs it;
- with --also NAME=DIR: another copy of the agent image folder (e.g. an older commit, from
  `git archive`), with and without the MCP server, to compare a change within one run.

Each process is timed from just before it is started: to its first /ping 200 (and the CPU time it
had used by then, from /proc: less sensitive to other load than wall time), then to its first
answered POST /invocations (the whole streamed answer, to the "done" event), then a second
invocation for what a warm process takes. The model is a fake server of the provider's protocol
(tests/agent/model_servers.py): OpenAI-compatible by default, `--provider bedrock` for
ConverseStream, as deployed. `--gap S` waits S seconds between the first /ping and the first
invocation, as the platform may; 0, the default, is the worst case for work deferred past /ping.
Prints medians and p90 per contender and the ratio of /ping medians against bare (target <= 1.2x).

Bytecode: `--bytecode compiled` (default) reads precompiled bytecode, as the image does (its
Dockerfile compiles site-packages and the agent's folders; .venv/agent is installed with
--compile-bytecode, and the agent folders are compiled here first); `--bytecode none` makes every
process compile every module from source (an empty PYTHONPYCACHEPREFIX, nothing written), as an
image without bytecode starts.

Run:  .venv/agent/bin/python bench/agent_cold_start.py [--runs 15] [--bytecode compiled|none]
"""

from __future__ import annotations

import argparse
import compileall
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AGENT_DIR = REPO / "runtime_images" / "agent"
MCP_DIR = REPO / "runtime_images" / "mcp_server"
MCP_PYTHON = REPO / ".venv" / "mcp" / "bin" / "python"
sys.path.insert(0, str(REPO / "tests" / "agent"))

from model_servers import FakeModelServer  # noqa: E402
from scripted_model import Text  # noqa: E402

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
TARGET = 1.2
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

BARE = """
import os

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from strands import Agent  # noqa: F401

app = BedrockAgentCoreApp()


@app.entrypoint
def invoke(payload):
    return {"ok": True}


app.run(host=os.environ["HOST"], port=int(os.environ["PORT"]))
"""

# The model's settings per provider, given the fake server's URL. Bedrock signs with made-up keys.
PROVIDERS = {
    "openai": lambda url: {"MODEL_PROVIDER": "openai", "MODEL_ID": "bench-model", "MODEL_BASE_URL": f"{url}/v1"},
    "bedrock": lambda url: {
        "MODEL_PROVIDER": "bedrock",
        "MODEL_ID": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "MODEL_BASE_URL": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
    },
}
# Agent settings that must not leak in from the shell running the bench.
AGENT_VARIABLES = ("MCP_RUNTIME_URL", "MEMORY_ID", "LONG_TERM_NAMESPACES", "MCP_AUTH", "MODEL_API_KEY", "MODEL_ID")


@dataclass
class Contender:
    name: str
    module: str
    cwd: Path
    env: dict[str, str]
    ping: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    first_call: list[float] = field(default_factory=list)
    second: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_ping(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def invoke(port: int, bare: bool) -> None:
    """One POST /invocations, read to the end; raises unless the agent's stream ended with "done"."""
    body = json.dumps({"prompt": "hello", "actor_id": "bench"})
    headers = {"Content-Type": "application/json", SESSION_HEADER: str(uuid.uuid4())}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"/invocations answered HTTP {response.status}: {text[:500]}")
    if bare:
        return
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    if not events or events[-1].get("type") != "done":
        raise RuntimeError(f"the invocation did not finish: {events[-3:]}")


def measure(contender: Contender, bytecode_env: dict[str, str], log: Path, gap: float) -> None:
    port = free_port()
    env = {**contender.env, **bytecode_env, "HOST": "127.0.0.1", "PORT": str(port)}
    argv = [sys.executable, "-m", contender.module]
    bare = contender.module == "bare_app"
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=contender.cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        while not get_ping(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{contender.name} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            time.sleep(0.005)
        ping = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid)
        time.sleep(gap)
        t1 = time.perf_counter()
        invoke(port, bare)
        first = time.perf_counter() - t0
        first_call = time.perf_counter() - t1
        t1 = time.perf_counter()
        invoke(port, bare)
        second = time.perf_counter() - t1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    contender.ping.append(ping)
    contender.cpu.append(cpu)
    contender.first.append(first)
    contender.first_call.append(first_call)
    contender.second.append(second)


def start_mcp_server(state: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    if not MCP_PYTHON.exists():
        print(f"note: {MCP_PYTHON} is missing (make .venv/mcp/.installed): the +mcp contenders are skipped")
        return None
    port = free_port()
    env = {
        **os.environ,
        "MCP_HOST": "127.0.0.1",
        "MCP_PORT": str(port),
        "TASK_STORE": "sqlite",
        "RESULT_SINK": "sqlite",
        "CALLER_IDENTITY": "local",
        "TASK_SQLITE_PATH": str(state / "tasks.sqlite3"),
        "RESULT_SINK_SQLITE_PATH": str(state / "results.sqlite3"),
        "DATASET_ROOT": str(state),
        "AWS_REGION": "us-east-1",
        "LOG_LEVEL": "WARNING",
    }
    with (state / "mcp.log").open("ab") as log:
        argv = [str(MCP_PYTHON), "-m", "mcp_server", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(argv, cwd=MCP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not get_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            print(f"note: the MCP server did not start (see {state / 'mcp.log'}): the +mcp contenders are skipped")
            return None
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/mcp"


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def ms(value: float) -> str:
    return f"{value * 1000:.0f}"


def report(contenders: list[Contender], args: argparse.Namespace) -> None:
    print(
        f"bytecode: {args.bytecode}, model provider: {args.provider}, {args.runs} interleaved rounds,"
        f" first invocation {args.gap:g} s after the first /ping; ms (median / p90)"
    )
    print(f"{'':>16}  {'/ping 200':>11}  {'CPU at ping':>11}  {'1st answer':>11}  {'1st call':>11}  {'2nd call':>8}")
    print(f"{'':>16}  {'from start':>11}  {'':>11}  {'from start':>11}  {'from request':>11}")
    for c in contenders:
        print(
            f"{c.name:>16}  {ms(statistics.median(c.ping)):>5} /{ms(p90(c.ping)):>5}"
            f"  {ms(statistics.median(c.cpu)):>5} /{ms(p90(c.cpu)):>5}"
            f"  {ms(statistics.median(c.first)):>5} /{ms(p90(c.first)):>5}"
            f"  {ms(statistics.median(c.first_call)):>5} /{ms(p90(c.first_call)):>5}"
            f"  {ms(statistics.median(c.second)):>8}"
        )
    bare = contenders[0]
    for c in contenders[1:]:
        per_round = [a / b for a, b in zip(c.ping, bare.ping, strict=True)]
        note = f" (target <= {TARGET}x)" if c.name == "agent" else ""
        print(
            f"{c.name + '/bare':>21}: /ping {statistics.median(c.ping) / statistics.median(bare.ping):.2f}x{note}"
            f"  (per round median {statistics.median(per_round):.2f}x),"
            f" CPU {statistics.median(c.cpu) / statistics.median(bare.cpu):.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--bytecode", choices=("compiled", "none"), default="compiled")
    parser.add_argument(
        "--also", action="append", default=[], metavar="NAME=DIR", help="another agent image folder to measure"
    )
    parser.add_argument(
        "--gap", type=float, default=0.0, help="seconds between the first /ping 200 and the first invocation"
    )
    parser.add_argument(
        "--provider",
        choices=sorted(PROVIDERS),
        default="openai",
        help="MODEL_PROVIDER of the agent; a fake server of its protocol answers (default openai)",
    )
    parser.add_argument("--no-mcp-server", action="store_true", help="skip the +mcp contenders")
    args = parser.parse_args()
    others = [(name, Path(folder).resolve()) for name, folder in (item.split("=", 1) for item in args.also)]

    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-cold-"))
    bare_dir = tmp / "bare"
    bare_dir.mkdir()
    (bare_dir / "bare_app.py").write_text(BARE)
    if args.bytecode == "compiled":
        # As the image: site-packages precompiled (uv --compile-bytecode here), the app's own
        # folders compiled once, nothing written at run time.
        for folder in [bare_dir, AGENT_DIR, *(folder for _, folder in others)]:
            compileall.compile_dir(folder, quiet=1)
            if (folder / "kit_contracts").is_dir():  # a symlink in the source tree, which compile_dir skips
                compileall.compile_dir(folder / "kit_contracts", quiet=1)
        bytecode_env = {"PYTHONDONTWRITEBYTECODE": "1"}
    else:
        empty = tmp / "no-bytecode"
        empty.mkdir()
        bytecode_env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty)}

    model = FakeModelServer(args.provider, [lambda body: Text("Hello from the scripted model.")] * 100_000).start()
    base_env = {k: v for k, v in os.environ.items() if k not in AGENT_VARIABLES and k != "PYTHONPYCACHEPREFIX"}
    agent_env = {
        **base_env,
        **PROVIDERS[args.provider](model.url),
        "AWS_REGION": "us-east-1",
        "MCP_AUTH": "none",
        "ACTOR_ID_FROM_REQUEST": "true",
        "LOCAL_STATE_DIR": str(tmp / "agent-state"),
    }
    mcp = None if args.no_mcp_server else start_mcp_server(tmp)
    contenders = [Contender("bare", "bare_app", bare_dir, base_env)]
    for name, folder in [("agent", AGENT_DIR), *others]:
        contenders.append(Contender(name, "agent", folder, agent_env))
        if mcp is not None:
            mcp_env = {**agent_env, "MCP_RUNTIME_URL": mcp[1], "RESULT_SINK_SQLITE_PATH": str(tmp / "results.sqlite3")}
            contenders.append(Contender(f"{name}+mcp", "agent", folder, mcp_env))
    try:
        for _ in range(args.runs):
            for contender in contenders:
                measure(contender, bytecode_env, tmp / f"{contender.name}.log", args.gap)
    finally:
        model.stop()
        if mcp is not None:
            mcp[0].terminate()
            mcp[0].wait(timeout=20)
    report(contenders, args)


if __name__ == "__main__":
    main()
