"""The optional AgentCore Gateway: off by default, JWT only, and it hands the runtime the caller's own token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from stacks.config import CONFIG_DIR, ConfigError, load_file
from stacks.constructs.gateway import gateway_name
from stacks.stage import KitStage
from tests.infra.conftest import cfn_lint, synth_variant

MCP = "McpServerRuntime59F17E8D"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_no_shipped_environment_has_a_gateway(synthesized, env: str) -> None:
    template = synthesized.template(env, "runtimes")
    template.resource_count_is("AWS::BedrockAgentCore::Gateway", 0)
    template.resource_count_is("AWS::BedrockAgentCore::GatewayTarget", 0)


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> tuple[KitStage, list[Path]]:
    """prod (JWT) with the gateway on, synthesized with cdk-nag."""
    return synth_variant(
        tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("config"), "prod", gateway={"enabled": True}
    )


@pytest.fixture(scope="module")
def gateway(variant: tuple[KitStage, list[Path]]) -> dict[str, Any]:
    return Template.from_stack(variant[0].runtimes).to_json()


def test_cfn_lint_passes_with_the_gateway(variant: tuple[KitStage, list[Path]]) -> None:
    result = cfn_lint(variant[1])
    assert result.returncode == 0, result.stdout + result.stderr


def one(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in template["Resources"].items() if v["Type"] == kind]
    return found


def test_the_gateway_checks_the_callers_token_against_the_environments_provider(gateway: dict[str, Any]) -> None:
    _, resource = one(gateway, "AWS::BedrockAgentCore::Gateway")
    auth = yaml.safe_load((CONFIG_DIR / "prod.yaml").read_text())["auth"]
    props = resource["Properties"]
    assert props["AuthorizerType"] == "CUSTOM_JWT"
    assert props["AuthorizerConfiguration"] == {
        "CustomJWTAuthorizer": {"DiscoveryUrl": auth["discovery_url"], "AllowedClients": auth["allowed_clients"]}
    }
    # No protocol type: AgentCore Runtime targets attach only to gateways without one.
    assert "ProtocolType" not in props and "ProtocolConfiguration" not in props
    assert props["Name"] == "agent-kit-prod-mcp"


def test_the_target_is_the_mcp_runtimes_named_endpoint_reached_with_the_callers_token(gateway: dict[str, Any]) -> None:
    gateway_id, _ = one(gateway, "AWS::BedrockAgentCore::Gateway")
    _, target = one(gateway, "AWS::BedrockAgentCore::GatewayTarget")
    props = target["Properties"]
    assert props["GatewayIdentifier"] == {"Fn::GetAtt": [gateway_id, "GatewayIdentifier"]}
    assert props["TargetConfiguration"] == {
        "Http": {"AgentcoreRuntime": {"Arn": {"Fn::GetAtt": [MCP, "AgentRuntimeArn"]}, "Qualifier": "live"}}
    }
    # The caller's token, unchanged: never a credential of the gateway's own.
    assert props["CredentialProviderConfigurations"] == [{"CredentialProviderType": "JWT_PASSTHROUGH"}]
    assert any("Endpointlive" in dependency for dependency in target["DependsOn"])


def test_the_mcp_runtime_still_validates_the_token_and_reads_the_actor_from_it(gateway: dict[str, Any]) -> None:
    props = gateway["Resources"][MCP]["Properties"]
    assert "CustomJWTAuthorizer" in props["AuthorizerConfiguration"]
    assert props["EnvironmentVariables"]["CALLER_IDENTITY"] == "jwt"
    assert "Authorization" in props["RequestHeaderConfiguration"]["RequestHeaderAllowlist"]


def test_the_gateways_role_may_do_nothing(gateway: dict[str, Any]) -> None:
    role_id, role = one(
        {"Resources": {k: v for k, v in gateway["Resources"].items() if k.startswith("GatewayServiceRole")}},
        "AWS::IAM::Role",
    )
    assert "Policies" not in role["Properties"] and "ManagedPolicyArns" not in role["Properties"]
    attached = [
        p for p in gateway["Resources"].values() if p["Type"] == "AWS::IAM::Policy" and role_id in json.dumps(p)
    ]
    assert attached == []
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert "gateway/agent-kit-prod-mcp-*" in json.dumps(trust["Condition"]["ArnLike"])


def test_the_url_and_the_target_name_are_outputs(gateway: dict[str, Any]) -> None:
    outputs = gateway["Outputs"]
    assert outputs["McpGatewayTargetName"]["Value"] == "mcp-server"
    assert "GatewayUrl" in json.dumps(outputs["McpGatewayUrl"]["Value"])


def test_an_iam_environment_cannot_turn_the_gateway_on(tmp_path: Path) -> None:
    """Without a caller's token to pass on, every caller would reach the MCP server as the gateway."""
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["gateway"] = {"enabled": True}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"gateway\.enabled needs auth\.mode 'jwt'"):
        load_file(tmp_path / "dev.yaml")


@pytest.mark.parametrize(("env", "name"), [("prod", "agent-kit-prod-mcp"), ("a--b-", "agent-kit-a-b-mcp")])
def test_gateway_names_fit_cloudformations_pattern(env: str, name: str) -> None:
    assert gateway_name(env) == name
