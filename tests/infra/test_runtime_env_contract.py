"""The step from CDK into each deployable: its synthesized environment fed to that deployable's own loader.

Fails on a variable the stack sets that the code does not read, on a variable the code needs
in a deployment that the stack does not set, and on a value the loader rejects.
"""

from __future__ import annotations

import importlib
import math
import sys
from typing import Any

import pytest

from stacks.config import ResultsSettings, load_all
from stacks.constructs import sweeper
from tests.infra.conftest import ROOT, Synthesized

# CloudFormation tokens stand for values known at deploy time: each is replaced by a value of
# the shape the deployable will get, so the loader checks everything else as it will then.
DEPLOY_TIME_VALUES = {
    "AWS_REGION": "eu-west-1",
    "MEMORY_ID": "kitMemory-AbCdE12345",
    "TASK_TABLE_NAME": "kit-tasks",
    "HANDOFF_BUS_NAME": "kit-handoff-bus",
    "IDEMPOTENCY_TABLE": "kit-idempotency",
    "MCP_RUNTIME_URL": "https://bedrock-agentcore.eu-west-1.amazonaws.com/runtimes/arn%3A.../invocations?qualifier=live",
    "MCP_RUNTIME_ARN": "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/kit_dev_mcp_server-AbCdE12345",
    "RESULTS_BUCKET": "dev-stateful-resultsbucket46167c27-abcdefghijkl",
    "REQUEST_STATE_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:McpServerRequestStateKey-AbCdEf",
}
# Read by a library, not by the deployable's settings: the Powertools layer, and the AWS Distro for
# OpenTelemetry with the container command that starts it (stacks/constructs/tracing.py).
LIBRARY_VARIABLES = ("POWERTOOLS_", "OTEL_", "AGENT_OBSERVABILITY_ENABLED")


def settings_class(package_dir: str, module: str, name: str = "Settings") -> Any:
    path = str(ROOT / package_dir)
    if path not in sys.path:
        sys.path.append(path)
    return getattr(importlib.import_module(module), name)


def concrete(environment: dict[str, Any]) -> dict[str, str]:
    values = {}
    for name, value in environment.items():
        if isinstance(value, str):
            values[name] = value
        else:
            assert name in DEPLOY_TIME_VALUES, f"{name} is a deploy-time value: add a sample of its shape above"
            values[name] = DEPLOY_TIME_VALUES[name]
    return values


def check(settings: Any, environment: dict[str, Any], where: str) -> None:
    env = concrete(environment)
    read = settings.variables()
    unread = sorted(n for n in env if n not in read and not n.startswith(LIBRARY_VARIABLES))
    assert unread == [], f"{where} sets {unread}, which its code does not read"
    missing = sorted(settings.required_when_deployed() - set(env))
    assert missing == [], f"{where} does not set {missing}, which its code needs when deployed"
    settings.load(env)  # raises SettingsError naming the variable, the value and the rule


def runtimes(synthesized: Synthesized, env: str) -> dict[str, dict[str, Any]]:
    template = synthesized.template_json(env, "runtimes")
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::BedrockAgentCore::Runtime":
            found[logical_id] = resource["Properties"].get("EnvironmentVariables", {})
    return found


@pytest.mark.parametrize(
    ("prefix", "package_dir", "module"),
    [
        ("McpServer", "runtime_images/mcp_server", "mcp_server.settings"),
        ("Agent", "runtime_images/agent", "agent.settings"),
    ],
)
def test_each_runtime_environment_is_exactly_what_its_image_reads(
    synthesized: Synthesized, env_names: list[str], prefix: str, package_dir: str, module: str
) -> None:
    settings = settings_class(package_dir, module)
    for env in env_names:
        matching = {k: v for k, v in runtimes(synthesized, env).items() if k.startswith(prefix)}
        assert len(matching) == 1, f"{env}: expected one {prefix} runtime, found {sorted(matching)}"
        check(settings, next(iter(matching.values())), f"{env}/{prefix}")


def test_each_handoff_lambda_environment_is_exactly_what_the_handlers_read(
    synthesized: Synthesized, env_names: list[str]
) -> None:
    settings = settings_class("lambdas", "handoff.settings")
    for env in env_names:
        functions = synthesized.template(env, "handoff").find_resources("AWS::Lambda::Function")
        handlers = {k: f for k, f in functions.items() if "handoff." in str(f["Properties"].get("Handler", ""))}
        assert handlers, f"{env}: no handoff Lambdas found"
        for logical_id, function in handlers.items():
            check(settings, function["Properties"]["Environment"]["Variables"], f"{env}/{logical_id}")


def test_the_sweeper_lambda_environment_is_exactly_what_its_settings_read(
    synthesized: Synthesized, env_names: list[str]
) -> None:
    settings = settings_class("runtime_images/mcp_server", "mcp_server.sweeper_lambda", "SweepSettings")
    for env in env_names:
        functions = synthesized.template(env, "runtimes").find_resources("AWS::Lambda::Function")
        sweepers = {k: f for k, f in functions.items() if f["Properties"].get("Handler") == sweeper.HANDLER}
        assert len(sweepers) == 1, f"{env}: expected one sweeper Lambda, found {sorted(sweepers)}"
        (function,) = sweepers.values()
        check(settings, function["Properties"]["Environment"]["Variables"], f"{env}/sweeper")


def test_the_sweeper_and_the_server_hold_leases_of_the_same_length() -> None:
    """No environment sets TASK_LEASE_SECONDS: both deployables use their default, which the lost-work
    alarm's threshold is computed from (stacks/constructs/sweeper.py)."""
    server = settings_class("runtime_images/mcp_server", "mcp_server.settings")
    sweep = settings_class("runtime_images/mcp_server", "mcp_server.sweeper_lambda", "SweepSettings")
    assert server.model_fields["lease_seconds"].default == sweeper.TASK_LEASE_SECONDS
    assert sweep.model_fields["lease_seconds"].default == sweeper.TASK_LEASE_SECONDS


def test_results_outlive_the_longest_lived_task_that_can_name_them() -> None:
    """The results bucket's default expiry is a day past the server's longest task ttl (TASK_MAX_TTL_SECONDS,
    which no environment sets)."""
    server = settings_class("runtime_images/mcp_server", "mcp_server.settings")
    max_ttl_days = math.ceil(server.model_fields["max_ttl_seconds"].default / 86_400)
    assert ResultsSettings().expire_days >= max_ttl_days + 1
    for config in load_all():
        assert config.results.expire_days >= max_ttl_days + 1, config.name


def test_the_check_fails_on_a_variable_nobody_reads_and_on_a_missing_one() -> None:
    settings = settings_class("runtime_images/mcp_server", "mcp_server.settings")
    deployed = {
        "AWS_REGION": "eu-west-1",
        "MEMORY_ID": "kitMemory-AbCdE12345",
        "TASK_STORE": "dynamodb",
        "TASK_TABLE_NAME": "t",
        "MCP_SESSION_IDLE_TIMEOUT_SECONDS": "900",
        "HANDOFF_BUS_NAME": "b",
        "KIT_ENVIRONMENT": "dev",
        "CALLER_IDENTITY": "runtime-user-id",
        "REQUEST_STATE_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf",
    }
    check(settings, deployed, "sample")
    with pytest.raises(AssertionError, match="MCP_RUNTIME_ARN"):
        check(settings, {**deployed, "MCP_RUNTIME_ARN": "arn"}, "sample")
    with pytest.raises(AssertionError, match="TASK_TABLE_NAME"):
        check(settings, {k: v for k, v in deployed.items() if k != "TASK_TABLE_NAME"}, "sample")
