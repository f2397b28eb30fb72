"""Cold start: what the server loads before /ping, and what the warm-up loads for the first invocation.

bench/agent_cold_start.py measures the times; these tests keep the structure that gives them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from agent import warmup
from agent.settings import load_settings
from conftest import AGENT_DIR

# Loaded by the first invocation that needs them (agent.warmup), never by the app's import.
DEFERRED = ("mcp", "openai", "ollama", "agent.mcp_connection")


def loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules of DEFERRED that a fresh interpreter has loaded after running `code`."""
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))"
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=AGENT_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_the_app_module_loads_no_mcp_client_and_no_model_library() -> None:
    assert loaded_after("import agent.app, agent.__main__") == set()


def test_the_warm_up_loads_what_the_configured_invocation_imports() -> None:
    env = {
        "MODEL_PROVIDER": "openai",
        "MODEL_BASE_URL": "http://127.0.0.1:9/v1",
        "MCP_RUNTIME_URL": "http://127.0.0.1:9/mcp",
    }
    code = "from agent import warmup\nfrom agent.settings import load_settings\nwarmup.warm(load_settings())"
    assert loaded_after(code, env) == {"mcp", "openai", "agent.mcp_connection"}


def test_the_warm_up_skips_what_the_configuration_does_not_use() -> None:
    local = warmup.modules(load_settings({"MODEL_PROVIDER": "ollama"}))
    assert local == ["strands.models.ollama", "strands.session.file_session_manager"]
    deployed = warmup.modules(
        load_settings({"MCP_RUNTIME_URL": "https://example.com/mcp", "MEMORY_ID": "kitMemory-AbCdE12345"})
    )
    assert deployed == [
        "strands.models.bedrock",
        "agent.mcp_connection",
        "bedrock_agentcore.memory.integrations.strands.session_manager",
    ]


def test_an_invocation_waits_for_the_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    monkeypatch.setattr(warmup, "_thread", thread)

    async def wait() -> float:
        threading.Timer(0.2, release.set).start()
        started = time.monotonic()
        await warmup.finished()
        return time.monotonic() - started

    assert asyncio.run(wait()) >= 0.15
    assert not thread.is_alive()


def test_the_image_ships_compiled_bytecode() -> None:
    # A fresh microVM per session: without bytecode every start compiles every module from source.
    dockerfile = (AGENT_DIR / "Dockerfile").read_text()
    assert "--no-compile" not in dockerfile
    assert "RUN python -m compileall -q agent kit_contracts" in dockerfile
