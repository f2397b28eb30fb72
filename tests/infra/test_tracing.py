"""Traces: ADOT in both images, switched per environment, and one X-Ray delivery policy per account."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from app import build
from stacks.config import CONFIG_DIR
from stacks.constructs.runtime import IMAGES_DIR
from stacks.constructs.tracing import POLICY_NAME, TRACING_ENVIRONMENT
from tests.infra.conftest import make_app

AGENT = "AgentRuntime23CE8C05"
MCP = "McpServerRuntime59F17E8D"


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize(("env", "tracing"), [("dev", False), ("staging", True), ("prod", True)])
def test_tracing_follows_the_environment(synthesized, env: str, tracing: bool) -> None:
    template = synthesized.template_json(env, "runtimes")
    for runtime in (AGENT, MCP):
        variables = template["Resources"][runtime]["Properties"]["EnvironmentVariables"]
        shown = {k: v for k, v in variables.items() if k in TRACING_ENVIRONMENT}
        assert shown == (TRACING_ENVIRONMENT if tracing else {})
    sources = resources(template, "AWS::Logs::DeliverySource")
    assert sorted(s["Properties"]["LogType"] for s in sources.values()) == (["TRACES", "TRACES"] if tracing else [])
    destinations = resources(template, "AWS::Logs::DeliveryDestination")
    assert [d["Properties"]["DeliveryDestinationType"] for d in destinations.values()] == (
        ["XRAY", "XRAY"] if tracing else []
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_one_policy_per_stage_not_one_per_stack_by_the_l2(synthesized, env: str) -> None:
    """aws-cdk#37962: the L2 adds CdkXRayLogsDeliveryPolicy to every stack that traces."""
    template = synthesized.template_json(env, "runtimes")
    (logical_id, policy), *others = resources(template, "AWS::XRay::ResourcePolicy").items()
    assert others == [] and "CdkXRayLogsDeliveryPolicy" not in logical_id
    assert policy["Properties"]["PolicyName"] == POLICY_NAME
    document = json.dumps(policy["Properties"]["PolicyDocument"])
    # Every AgentCore runtime of the account and Region, through CloudWatch Logs delivery only.
    assert ":bedrock-agentcore:" in document and ':runtime/*\\"]}' in document
    assert "delivery.logs.amazonaws.com" in document and "xray:PutTraceSegments" in document
    assert ":delivery-source:*" in document
    # Both runtimes' deliveries wait for it.
    for kind in ("AWS::Logs::DeliveryDestination", "AWS::Logs::Delivery"):
        for resource in resources(template, kind).values():
            assert logical_id in resource["DependsOn"]


def test_prod_keeps_the_policy_when_the_stack_goes(synthesized) -> None:
    (policy,) = resources(synthesized.template_json("prod", "runtimes"), "AWS::XRay::ResourcePolicy").values()
    assert policy["DeletionPolicy"] == "Retain"


def test_an_environment_relying_on_an_existing_policy_creates_none(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "staging.yaml").read_text())
    data["observability"]["trace_delivery_policy"] = "existing"
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(data))
    (stage,) = build(make_app(tmp_path / "out", env="staging", config_dir=str(tmp_path)))
    template = Template.from_stack(stage.runtimes)
    template.resource_count_is("AWS::XRay::ResourcePolicy", 0)
    template.resource_count_is("AWS::Logs::Delivery", 2)


COMMAND = re.compile(r"^CMD (\[.*\])$", re.MULTILINE)


@pytest.mark.parametrize(("image", "module"), [("agent", "agent"), ("mcp_server", "mcp_server")])
def test_each_image_runs_under_adot_only_when_the_environment_says_so(image: str, module: str) -> None:
    dockerfile = (IMAGES_DIR / image / "Dockerfile").read_text()
    (command,) = COMMAND.findall(dockerfile)
    shell, flag, script = json.loads(command)
    assert (shell, flag) == ("/bin/sh", "-c")
    switch = next(iter(TRACING_ENVIRONMENT))  # AGENT_OBSERVABILITY_ENABLED, set by the stack with tracing on
    assert script == (
        f'if [ "${switch}" = true ]; then exec opentelemetry-instrument python -m {module}; fi; exec python -m {module}'
    )
    requirements = (IMAGES_DIR / image / "requirements.txt").read_text().splitlines()
    assert "aws-opentelemetry-distro==0.21.0" in requirements
