"""The image's entry point serves MCP at /mcp and /ping on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import ServerProcess, client, start_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("smoke"))
    yield proc
    proc.stop()


def test_ping_is_healthy_when_idle(server: ServerProcess) -> None:
    body = server.ping()
    assert body["status"] == "Healthy"
    assert isinstance(body["time_of_last_update"], int) and body["time_of_last_update"] > 1_600_000_000


async def test_initialize_and_list_tools_with_the_mcp_client(server: ServerProcess) -> None:
    async with client(server.mcp_url, mode="legacy") as session:
        assert session.protocol_version == "2025-11-25"
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert {
        "summarize_csv",
        "model_training",
        "start_summarize_csv",
        "check_task_status",
        "get_task_result",
    } <= set(tools)
    assert tools["summarize_csv"].execution is not None
    assert tools["summarize_csv"].execution.task_support == "optional"
    assert "path" in tools["summarize_csv"].input_schema["properties"]


async def test_modern_client_discovers_the_tasks_extension(server: ServerProcess) -> None:
    async with client(server.mcp_url, mode="auto") as session:
        assert session.protocol_version == "2026-07-28"
        names = {t.name for t in (await session.list_tools()).tools}
        assert "model_training" in names


def test_unknown_settings_fail_with_the_variable_named(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TASK_STORE='postgres': expected one of sqlite, dynamodb"):
        start_server(tmp_path, env={"TASK_STORE": "postgres"})


def test_unknown_mcp_session_answers_404(server: ServerProcess) -> None:
    import httpx2

    response = httpx2.post(
        server.mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={
            "Accept": "application/json, text/event-stream",
            "Mcp-Session-Id": "0123456789abcdef0123456789abcdef",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=10,
    )
    assert response.status_code == 404


def test_entry_point_freezes_start_up_objects_before_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full garbage collections must not walk the SDK's modules while requests wait (tail latency)."""
    import gc

    from mcp_server import __main__ as entry

    served: list[tuple[object, int]] = []
    monkeypatch.setenv("TASK_SQLITE_PATH", str(tmp_path / "tasks.sqlite3"))
    monkeypatch.setattr(entry, "configure_logging", lambda *a, **k: None)
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: served.append((app, gc.get_freeze_count())))
    assert gc.get_freeze_count() == 0
    try:
        assert entry.main(["--host", "127.0.0.1", "--port", "0"]) == 0
    finally:
        frozen_while_serving = served[0][1] if served else 0
        gc.unfreeze()
    assert len(served) == 1
    # Everything alive at start-up (the app, its routes, the imported SDK) is out of the collector's way.
    assert frozen_while_serving > 10_000
