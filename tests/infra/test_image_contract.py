"""The stack and the MCP server image agree on header names, environment variables and metrics.

Header and metric names are defined once, in kit_contracts; the image's constants and metrics
modules are loaded by path here, with the repository root (and so kit_contracts) on sys.path."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType

from kit_contracts import metrics
from kit_contracts.context import CONTEXT_HEADERS

MCP_PACKAGE = Path(__file__).resolve().parents[2] / "runtime_images" / "mcp_server" / "mcp_server"
MCP_RUNTIME = "McpServerRuntime59F17E8D"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"image_{name}", MCP_PACKAGE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stack_allowlists_exactly_the_headers_the_server_reads(synthesized) -> None:
    props = synthesized.template_json("dev", "runtimes")["Resources"][MCP_RUNTIME]["Properties"]
    assert props["RequestHeaderConfiguration"]["RequestHeaderAllowlist"][: len(CONTEXT_HEADERS)] == list(
        CONTEXT_HEADERS
    )


# Which variables the server reads is checked against its settings model, for every environment,
# in test_runtime_env_contract.py (constants.ENV_* no longer lists them all).


def test_dashboard_and_alarms_read_the_metrics_the_server_emits() -> None:
    # The dashboard and alarms chart kit_contracts.metrics (tests/infra/test_observability_stack.py).
    out = io.StringIO()
    emitter = load("metrics").TaskMetrics("dev", stream=out)
    emitter.started("t", "tool")
    for status in metrics.TERMINAL_COUNTERS:
        emitter.finished("t", "tool", status, 1.0)
    emitter.finished("t", "tool", "completed", 1.0, tool_error=True)  # completed with the tool's own error
    emitter.lost_worker_recovered("t", "tool")
    # What the sweeps (the server's and the scheduled sweeper's) add: the lost-work alarms read these.
    emitter.fault("t", "tool", "finish")
    emitter.handed_over("t", "tool")
    emitter.publication_abandoned("t", "tool")
    emitter.backlog(42.0)
    emitted = set()
    for line in out.getvalue().splitlines():
        (directive,) = json.loads(line)["_aws"]["CloudWatchMetrics"]
        assert (directive["Namespace"], directive["Dimensions"]) == (metrics.NAMESPACE, [[metrics.DIMENSION]])
        emitted |= {metric["Name"] for metric in directive["Metrics"]}
    assert emitted == set(metrics.TASK_METRICS)
