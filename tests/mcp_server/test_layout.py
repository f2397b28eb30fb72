"""The server's layout keeps its promises: the sweeper runs without the server, modules stay small."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests_support import IMAGE_DIR

PACKAGE = IMAGE_DIR / "mcp_server"


def test_the_sweeper_runs_with_only_a_store_a_sink_and_settings(tmp_path: Path) -> None:
    # A fresh interpreter: a lost task is failed and its outcome published, and nothing of the
    # web server or the MCP SDK was imported on the way (a scheduled job runs this path).
    script = textwrap.dedent(
        f"""
        import sys, time, anyio
        from pathlib import Path
        from mcp_server.engine.sweeper import Sweeper
        from mcp_server.results_sink import SqliteSink
        from mcp_server.settings import load_settings
        from mcp_server.store.base import NewTask
        from mcp_server.store.sqlite import SqliteTaskStore

        tmp = Path({str(tmp_path)!r})
        settings = load_settings({{"TASK_LEASE_SECONDS": "0.2"}})
        store, sink = SqliteTaskStore(tmp / "tasks.sqlite3"), SqliteSink(tmp / "results.sqlite3")
        new = NewTask("t-1", "alice", "s-1", "taskMemory-AbCdE12345", "summarize_csv", {{}}, 60, "gone-worker")
        store.create(new, time.time() - 10, 0.2)
        sweeper = Sweeper.standalone(store, sink, settings, worker_id="scheduled-sweeper")
        anyio.run(sweeper.sweep_once)
        record = store.get("t-1", "alice", time.time())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "starlette", "uvicorn", "httpx2"))
        print(record.status, record.publish_due_at, len(sink.events("alice", "s-1")), loaded)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=IMAGE_DIR, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]  # earlier lines are the metric lines on stdout
    assert last.split()[:3] == ["failed", "None", "1"], run.stdout
    assert last.endswith("[]"), f"the sweeper path imported the server: {last}"


def test_no_module_of_the_server_is_over_350_lines_and_no_engine_module_over_300() -> None:
    sizes = {p.relative_to(PACKAGE): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {str(p): n for p, n in sizes.items() if n > 350} == {}
    assert {str(p): n for p, n in sizes.items() if p.parts[0] == "engine" and n > 300} == {}


def test_a_local_server_starts_without_boto3(tmp_path: Path) -> None:
    # Cold start is paid by every AgentCore session: boto3 (about 160 ms to import) and its clients
    # are loaded by what uses them (the DynamoDB store, AWS sinks and emitters), on first use.
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import mcp_server.__main__
        from mcp_server.app import build
        from mcp_server.settings import load_settings

        build(load_settings({{"TASK_SQLITE_PATH": str(Path({str(tmp_path)!r}) / "tasks.sqlite3")}}))
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "s3transfer")))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=IMAGE_DIR, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_the_image_runs_precompiled_bytecode() -> None:
    # With PYTHONDONTWRITEBYTECODE nothing compiled at start-up is kept: each session would compile
    # every module again (about as much CPU as the rest of start-up).
    dockerfile = (IMAGE_DIR / "Dockerfile").read_text()
    assert "--no-compile" not in dockerfile
    assert "RUN python -m compileall -q mcp_server kit_contracts" in dockerfile
