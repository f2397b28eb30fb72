"""The stack and the MCP server image agree on header names and environment variables.

The image's constants module is dependency-free, so it is loaded by path here."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from stacks.config import CONTEXT_HEADERS

MCP_PACKAGE = Path(__file__).resolve().parents[2] / "runtime_images" / "mcp_server" / "mcp_server"
MCP_RUNTIME = "McpServerRuntime59F17E8D"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"image_{name}", MCP_PACKAGE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stack_allowlists_exactly_the_headers_the_server_reads(synthesized) -> None:
    constants = load("constants")
    assert tuple(constants.CONTEXT_HEADERS) == CONTEXT_HEADERS
    props = synthesized.template_json("dev", "runtimes")["Resources"][MCP_RUNTIME]["Properties"]
    assert props["RequestHeaderConfiguration"]["RequestHeaderAllowlist"][:3] == list(constants.CONTEXT_HEADERS)


def test_every_variable_the_stack_sets_is_one_the_server_reads(synthesized) -> None:
    constants = load("constants")
    read_by_server = {value for name, value in vars(constants).items() if name.startswith("ENV_")}
    props = synthesized.template_json("dev", "runtimes")["Resources"][MCP_RUNTIME]["Properties"]
    assert set(props["EnvironmentVariables"]) - read_by_server == set()


def test_dashboard_and_alarms_read_the_metrics_the_server_emits() -> None:
    from stacks.constructs import observability

    constants = load("constants")
    assert (constants.METRICS_NAMESPACE, constants.METRICS_DIMENSION) == (
        observability.TASK_NAMESPACE,
        observability.TASK_DIMENSION,
    )
    emitter = (MCP_PACKAGE / "metrics.py").read_text()
    for name in observability.TASK_METRICS:
        assert f'"{name}"' in emitter, name
