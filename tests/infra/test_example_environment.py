"""config/examples/private.yaml: every optional feature on at once (VPC mode, the gateway with JWT
auth, tracing, all three memory strategies, manual promotion). It is an example to copy, not an
environment: `make synth` never synthesizes it, the tests do, with cdk-nag, cfn-lint and snapshots
(test_snapshots.py), and its preview is checked in test_preview.py."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from aws_cdk import Stack, Stage

from stacks.config import (
    ConfigError,
    EnvironmentConfig,
    JwtAuth,
    MemoryStrategyName,
    available,
    load_all,
    load_environment,
    load_file,
)
from stacks.constructs.gateway import JWT_PASSTHROUGH, gateway_name
from stacks.constructs.tracing import POLICY_NAME, TRACING_ENVIRONMENT
from tests.infra.conftest import EXAMPLE, EXAMPLES_DIR, Synthesized, cfn_lint

AGENT = "AgentRuntime23CE8C05"
MCP = "McpServerRuntime59F17E8D"
STACKS = ("stateful", "handoff", "runtimes", "observability")


@pytest.fixture(scope="module")
def config() -> EnvironmentConfig:
    return load_file(EXAMPLES_DIR / f"{EXAMPLE}.yaml")


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_the_example_is_not_a_shipped_environment() -> None:
    """`make synth` reads config/*.yaml only: the example is never synthesized or deployed by default."""
    assert EXAMPLE not in available() and EXAMPLE not in [c.name for c in load_all()]
    with pytest.raises(ConfigError, match=f"unknown environment '{EXAMPLE}'"):
        load_environment(EXAMPLE)
    assert available(EXAMPLES_DIR) == [EXAMPLE]


def test_the_example_turns_every_optional_feature_on(config: EnvironmentConfig) -> None:
    assert config.network.mode == "vpc" and config.network.vpc_id
    assert config.network.subnet_ids and config.network.security_group_ids
    assert len(config.network.availability_zones) == len(config.network.subnet_ids)
    assert config.gateway.enabled and isinstance(config.auth, JwtAuth)
    assert config.observability.tracing and config.observability.trace_delivery_policy == "create"
    assert sorted(config.memory.strategies) == sorted(typing.get_args(MemoryStrategyName))
    assert config.release.promotion == "manual"


def test_cdk_nag_passes_and_each_acknowledgement_names_one_finding(example: Synthesized) -> None:
    """The fixture's synth raises ValidationFailed on any finding; the acknowledgements it needed are each specific."""
    assert list(example.stages) == [EXAMPLE]
    report = example.outdir / "validation-report.json"
    if report.exists():
        plugin_reports = json.loads(report.read_text())["pluginReports"]
        assert all(r["conclusion"] == "success" for r in plugin_reports), plugin_reports
    for construct in example.stages[EXAMPLE].node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                ((rule, reason),) = entry.data.items()
                assert "*" not in rule.split("[")[0] and len(reason) >= 30, (construct.node.path, rule)
                assert not isinstance(construct, (Stage, Stack)), construct.node.path


def test_cfn_lint_passes_on_the_example(example: Synthesized) -> None:
    templates = example.template_files()
    assert len(templates) == len(STACKS)
    result = cfn_lint(templates)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_runtimes_are_in_the_vpc_with_tracing(example: Synthesized, config: EnvironmentConfig) -> None:
    template = example.template_json(EXAMPLE, "runtimes")
    for runtime in (AGENT, MCP):
        props = template["Resources"][runtime]["Properties"]
        assert props["NetworkConfiguration"] == {
            "NetworkMode": "VPC",
            "NetworkModeConfig": {
                "SecurityGroups": config.network.security_group_ids,
                "Subnets": config.network.subnet_ids,
            },
        }
        assert {k: v for k, v in props["EnvironmentVariables"].items() if k in TRACING_ENVIRONMENT} == (
            TRACING_ENVIRONMENT
        )
        assert "CustomJWTAuthorizer" in props["AuthorizerConfiguration"]
    assert len(resources(template, "AWS::EC2::SecurityGroup")) == 0  # the given groups, used as they are
    assert sorted(s["Properties"]["LogType"] for s in resources(template, "AWS::Logs::DeliverySource").values()) == [
        "TRACES",
        "TRACES",
    ]
    (policy,) = resources(template, "AWS::XRay::ResourcePolicy").values()
    assert policy["Properties"]["PolicyName"] == POLICY_NAME


def test_each_runtime_has_a_pinned_live_and_a_following_candidate(example: Synthesized) -> None:
    template = example.template_json(EXAMPLE, "runtimes")
    endpoints = {
        (e["Properties"]["AgentRuntimeId"]["Fn::GetAtt"][0], e["Properties"]["Name"]): e["Properties"]
        for e in resources(template, "AWS::BedrockAgentCore::RuntimeEndpoint").values()
    }
    assert sorted(endpoints) == sorted((r, n) for r in (AGENT, MCP) for n in ("live", "live_candidate"))
    for runtime in (AGENT, MCP):
        assert endpoints[(runtime, "live")]["AgentRuntimeVersion"] == "1"
        assert endpoints[(runtime, "live_candidate")]["AgentRuntimeVersion"] == {
            "Fn::GetAtt": [runtime, "AgentRuntimeVersion"]
        }


def test_the_gateway_fronts_the_mcp_runtimes_live_endpoint(example: Synthesized, config: EnvironmentConfig) -> None:
    template = example.template_json(EXAMPLE, "runtimes")
    (gateway,) = resources(template, "AWS::BedrockAgentCore::Gateway").values()
    assert gateway["Properties"]["Name"] == gateway_name(EXAMPLE)
    assert gateway["Properties"]["AuthorizerType"] == "CUSTOM_JWT"
    assert isinstance(config.auth, JwtAuth)
    jwt = gateway["Properties"]["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert jwt["DiscoveryUrl"] == config.auth.discovery_url
    (target,) = resources(template, "AWS::BedrockAgentCore::GatewayTarget").values()
    assert target["Properties"]["TargetConfiguration"]["Http"]["AgentcoreRuntime"]["Qualifier"] == "live"
    assert target["Properties"]["CredentialProviderConfigurations"] == [{"CredentialProviderType": JWT_PASSTHROUGH}]
    assert "McpGatewayUrl" in template["Outputs"]


def test_memory_has_all_three_strategies(example: Synthesized) -> None:
    template = example.template_json(EXAMPLE, "stateful")
    (memory,) = resources(template, "AWS::BedrockAgentCore::Memory").values()
    kinds = [kind for strategy in memory["Properties"]["MemoryStrategies"] for kind in strategy]
    assert kinds == ["SemanticMemoryStrategy", "UserPreferenceMemoryStrategy", "SummaryMemoryStrategy"]
