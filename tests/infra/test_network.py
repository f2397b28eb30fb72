"""Private networking: PUBLIC or VPC per environment, subnets and security groups by id, ids checked at synth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError, load_file
from stacks.stage import KitStage
from tests.infra.conftest import cfn_lint, synth_variant
from tests.infra.test_config import DEV, write

AGENT = "AgentRuntime23CE8C05"
MCP = "McpServerRuntime59F17E8D"
VPC = {
    "mode": "vpc",
    "vpc_id": "vpc-0abc1234def567890",
    "subnet_ids": ["subnet-0abc1234def567890", "subnet-1a2b3c4d"],
    "availability_zones": ["us-east-1a", "us-east-1b"],
}
GROUPS = ["sg-0abc1234def567890", "sg-1a2b3c4d"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_shipped_environments_are_public(synthesized, env: str) -> None:
    template = synthesized.template_json(env, "runtimes")
    for runtime in (AGENT, MCP):
        assert template["Resources"][runtime]["Properties"]["NetworkConfiguration"] == {"NetworkMode": "PUBLIC"}


@pytest.fixture(scope="module")
def given_groups(tmp_path_factory: pytest.TempPathFactory) -> tuple[KitStage, list[Path]]:
    return synth_variant(
        tmp_path_factory.mktemp("out"),
        tmp_path_factory.mktemp("config"),
        "staging",
        network={**VPC, "security_group_ids": GROUPS},
    )


def test_vpc_mode_puts_both_runtimes_in_the_given_subnets_and_groups(given_groups: Any) -> None:
    template = Template.from_stack(given_groups[0].runtimes)
    resources = template.to_json()["Resources"]
    for runtime in (AGENT, MCP):
        assert resources[runtime]["Properties"]["NetworkConfiguration"] == {
            "NetworkMode": "VPC",
            "NetworkModeConfig": {"SecurityGroups": GROUPS, "Subnets": VPC["subnet_ids"]},
        }
    # The team's groups are used as they are: the kit adds no group and no rule.
    template.resource_count_is("AWS::EC2::SecurityGroup", 0)
    template.resource_count_is("AWS::EC2::SecurityGroupEgress", 0)
    template.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)


def test_cfn_lint_passes_in_vpc_mode(given_groups: Any) -> None:
    result = cfn_lint(given_groups[1])
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_groups_the_l2_makes_one_open_outbound_closed_inbound(tmp_path: Path) -> None:
    stage, _ = synth_variant(tmp_path / "out", tmp_path, "dev", network=VPC)
    template = Template.from_stack(stage.runtimes)
    (group,) = template.find_resources("AWS::EC2::SecurityGroup").values()
    assert group["Properties"]["VpcId"] == VPC["vpc_id"] and "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "0.0.0.0/0"


@pytest.mark.parametrize(
    ("network", "field", "message"),
    [
        (
            {**VPC, "subnet_ids": ["subnet-XYZ", "subnet-1a2b3c4d"]},
            "network.subnet_ids",
            "'subnet-XYZ' is not a subnet id",
        ),
        (
            {**VPC, "subnet_ids": ["sg-0abc1234", "subnet-1a2b3c4d"]},
            "network.subnet_ids",
            "like 'subnet-0abc1234def567890'",
        ),
        ({**VPC, "security_group_ids": ["sg-12345"]}, "network.security_group_ids", "'sg-12345' is not a sg id"),
        ({**VPC, "security_group_ids": [GROUPS[0], GROUPS[0]]}, "network.security_group_ids", "lists an id twice"),
        ({**VPC, "vpc_id": "vpc-nothex00"}, "network", "vpc_id like 'vpc-0abc12345'"),
        ({"mode": "public", "subnet_ids": ["subnet-1a2b3c4d"]}, "network", "mode 'public' takes no vpc_id"),
    ],
)
def test_ids_of_the_wrong_shape_fail_synth_naming_field_and_value(
    tmp_path: Path, network: dict[str, Any], field: str, message: str
) -> None:
    path = write(tmp_path, {**DEV, "network": network})
    with pytest.raises(ConfigError) as raised:
        load_file(path)
    assert field in str(raised.value) and message in str(raised.value)
