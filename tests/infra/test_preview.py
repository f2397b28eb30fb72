"""`make preview` over the session's synthesized assembly: each section names the resources it should, and a
second preview of a changed template reports the change. The example environment (config/examples/private.yaml)
shows what no shipped one has: the gateway, VPC mode, and a pinned endpoint beside its candidate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks import preview
from stacks.config import EnvironmentConfig, JwtAuth, load_environment, load_file
from stacks.constructs.gateway import JWT_PASSTHROUGH, TARGET_NAME, gateway_name
from stacks.constructs.memory import STRATEGIES
from tests.infra.conftest import EXAMPLE, EXAMPLES_DIR, Synthesized


@pytest.fixture(scope="module")
def previews(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("previews")
    return {env: (stacks, found) for env, stacks, found, _, _ in preview.run(synthesized.outdir, [], state)}


def resources(synthesized: Synthesized, env: str, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for stack in ("stateful", "handoff", "runtimes", "observability"):
        template = synthesized.template_json(env, stack)
        found.update({k: v for k, v in template["Resources"].items() if v["Type"] == kind})
    return found


def test_every_environment_is_previewed_with_its_four_stacks(previews: dict[str, Any], env_names: list[str]) -> None:
    assert set(previews) == set(env_names)
    for env, (stacks, _) in previews.items():
        assert [s.name for s in stacks] == [f"{env}/{n}" for n in ("Stateful", "Handoff", "Runtimes", "Observability")]


def test_resources_are_counted_by_type(previews: dict[str, Any], synthesized: Synthesized) -> None:
    _, found = previews["dev"]
    counts = found["resources"]
    assert counts["AWS::BedrockAgentCore::Runtime"] == "2" and counts["AWS::BedrockAgentCore::Memory"] == "1"
    assert counts["AWS::CloudWatch::Alarm"] == str(len(resources(synthesized, "dev", "AWS::CloudWatch::Alarm")))
    assert "AWS::CDK::Metadata" not in counts


def test_every_role_is_shown_with_its_grants(previews: dict[str, Any], synthesized: Synthesized) -> None:
    _, found = previews["dev"]
    roles = found["roles"]
    assert len(roles) == len(resources(synthesized, "dev", "AWS::IAM::Role"))
    mcp = roles["Runtimes/McpServerExecutionRole"]
    assert mcp[0] == "assumed by bedrock-agentcore.amazonaws.com"
    assert any(line.startswith("dynamodb:") and "on <Stateful/TaskStoreTable>.Arn" in line for line in mcp)
    assert any(line.startswith("events:PutEvents on <Handoff/HandoffBus>.Arn") for line in mcp)
    agent = roles["Runtimes/AgentExecutionRole"]
    assert any("bedrock:InvokeModel" in line and "inference-profile/" in line for line in agent)
    assert any("bedrock-agentcore:InvokeAgentRuntimeForUser" in line for line in agent)
    sweeper = roles["Runtimes/SweeperRole"]
    assert sweeper[0] == "assumed by lambda.amazonaws.com"
    assert any("if StringEquals kms:ViaService=dynamodb.{region}.amazonaws.com" in line for line in sweeper)


def test_public_endpoints_are_the_invoke_urls(previews: dict[str, Any]) -> None:
    _, found = previews["dev"]
    endpoints = found["endpoints"]
    assert endpoints["Runtimes output AgentInvokeUrl"].startswith(
        "https://bedrock-agentcore.{region}.amazonaws.com/runtimes/<Runtimes/AgentRuntime>.AgentRuntimeArn"
        "/invocations?qualifier="
    )
    assert "Runtimes output McpServerInvokeUrl" in endpoints
    assert not any(key.startswith("gateway ") for key in endpoints)  # dev has no gateway (the example has)
    # on_deploy: one endpoint per runtime, which each deploy moves to the new version.
    for runtime in ("AgentRuntime", "McpServerRuntime"):
        assert endpoints[f"runtime endpoint Runtimes/{runtime}Endpointlive"] == (
            f"live of <Runtimes/{runtime}>.AgentRuntimeId, follows each deployed version"
        )
    assert not any("candidate" in key for key in endpoints)


def test_shipped_runtimes_show_network_auth_and_tracing(previews: dict[str, Any]) -> None:
    for env, tracing in (
        ("dev", "tracing off"),
        ("prod", "tracing on (ADOT in the container, platform spans to X-Ray)"),
    ):
        config = load_environment(env)
        runtimes = previews[env][1]["runtimes"]
        for name in (config.agent.name, config.mcp_server.name):
            assert ", network PUBLIC, " in runtimes[name] and runtimes[name].endswith(f", {tracing}")
    dev = load_environment("dev")
    assert ", inbound auth IAM (SigV4), " in previews["dev"][1]["runtimes"][dev.agent.name]


def test_cost_drivers_are_read_from_the_templates(previews: dict[str, Any], synthesized: Synthesized) -> None:
    _, found = previews["dev"]
    for runtime in resources(synthesized, "dev", "AWS::BedrockAgentCore::Runtime").values():
        props = runtime["Properties"]
        line = found["runtimes"][props["AgentRuntimeName"]]
        lifecycle = props["LifecycleConfiguration"]
        assert f"idle timeout {lifecycle['IdleRuntimeSessionTimeout']} s" in line
        assert f"max lifetime {lifecycle['MaxLifetime']} s" in line
    (memory,) = resources(synthesized, "dev", "AWS::BedrockAgentCore::Memory").values()
    assert f"after {memory['Properties']['EventExpiryDuration']} days" in found["memory"][memory["Properties"]["Name"]]
    task_table = found["tables"]["Stateful/TaskStoreTable"]
    assert (
        task_table.startswith("on demand (PAY_PER_REQUEST)")
        and "by_owner_keys (owner, created_at; KEYS_ONLY)" in task_table
    )
    assert "ExpireResults: expire after" in found["buckets"]["Stateful/ResultsBucket"]
    for group in resources(synthesized, "dev", "AWS::Logs::LogGroup").values():
        name = group["Properties"]["LogGroupName"]
        if isinstance(name, str):
            assert found["log groups"][name] == f"kept {group['Properties']['RetentionInDays']} days"
    assert len(found["alarms"]) == len(resources(synthesized, "dev", "AWS::CloudWatch::Alarm"))
    assert "AgentKit/TaskEngine/TaskFaults" in found["alarms"]["Observability/ObservabilityTaskFaults"]
    assert found["schedules"]["Runtimes/SweeperSchedule"].startswith("rate(")
    assert "reserved concurrency 1" in found["compute"]["Runtimes/SweeperFunction"]
    assert found["compute"]["Handoff/HandoffWorkflow"].startswith("Step Functions STANDARD")


def copy_templates(source: Path, target: Path) -> None:
    """The manifests and templates of an assembly (not its assets), to change one."""
    for path in [
        source / "manifest.json",
        *source.glob("assembly-*/manifest.json"),
        *source.glob("**/*.template.json"),
    ]:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def test_a_second_preview_reports_what_changed(synthesized: Synthesized, tmp_path: Path) -> None:
    assembly, state = tmp_path / "cdk.out", tmp_path / "state"
    copy_templates(synthesized.outdir, assembly)
    ((_, _, _, previous_at, found),) = preview.run(assembly, ["dev"], state)
    assert previous_at is None and found == []
    assert json.loads((state / "dev.json").read_text())["env"] == "dev"

    (path,) = assembly.glob("assembly-dev/devRuntimes*.template.json")
    template = json.loads(path.read_text())
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if props.get("LogGroupName") == "/agent-kit/dev/sweeper":
            props["RetentionInDays"] = 30
        if logical_id.startswith("SweeperRoleDefaultPolicy"):
            props["PolicyDocument"]["Statement"].append({"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"})
    path.write_text(json.dumps(template))

    ((_, _, _, previous_at, found),) = preview.run(assembly, ["dev"], state)
    assert previous_at is not None
    assert found == [
        "+ roles Runtimes/SweeperRole: s3:GetObject on *",
        "~ log groups /agent-kit/dev/sweeper: kept 7 days -> kept 30 days",
    ]
    ((_, _, _, _, again),) = preview.run(assembly, ["dev"], state)
    assert again == []  # the second preview became the baseline


def test_text_and_errors(synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["dev", "--outdir", str(synthesized.outdir), "--state-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("== dev: dev/Stateful, dev/Handoff, dev/Runtimes, dev/Observability (")
    assert "\nroles:\n  Handoff/HandoffCompensateRole\n    assumed by lambda.amazonaws.com\n" in text
    assert preview.main(["qa", "--outdir", str(synthesized.outdir), "--state-dir", str(tmp_path)]) == 2
    assert "qa not synthesized" in capsys.readouterr().err
    assert preview.main(["--outdir", str(tmp_path / "empty"), "--state-dir", str(tmp_path)]) == 2
    assert "run `make synth` first" in capsys.readouterr().err


# ---------------------------------------------------------------- the example: every optional feature on
@pytest.fixture(scope="module")
def example_config() -> EnvironmentConfig:
    return load_file(EXAMPLES_DIR / f"{EXAMPLE}.yaml")


@pytest.fixture(scope="module")
def example_preview(example: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> preview.Preview:
    ((_, _, found, _, _),) = preview.run(example.outdir, [EXAMPLE], tmp_path_factory.mktemp("example-previews"))
    return found


def test_the_gateway_is_a_public_endpoint_with_its_authorizer_and_target(
    example_preview: preview.Preview, example_config: EnvironmentConfig
) -> None:
    auth = example_config.auth
    assert isinstance(auth, JwtAuth)
    endpoints = example_preview["endpoints"]
    assert endpoints[f"gateway {gateway_name(EXAMPLE)}"] == (
        "AgentCore Gateway, public at <Runtimes/Gateway>.GatewayUrl, inbound auth CUSTOM_JWT "
        f"({auth.discovery_url}; clients {', '.join(auth.allowed_clients)})"
    )
    assert endpoints["gateway target Runtimes/GatewayMcpServerTarget"] == (
        f"{TARGET_NAME} -> endpoint {example_config.release.endpoint} of <Runtimes/McpServerRuntime>.AgentRuntimeArn, "
        f"outbound {JWT_PASSTHROUGH}"
    )
    assert endpoints["Runtimes output McpGatewayUrl"] == "<Runtimes/Gateway>.GatewayUrl"


def test_each_runtime_shows_its_network_mode_vpc_ids_auth_and_tracing(
    example_preview: preview.Preview, example_config: EnvironmentConfig
) -> None:
    network = example_config.network
    for name in (example_config.agent.name, example_config.mcp_server.name):
        line = example_preview["runtimes"][name]
        assert (
            f", network VPC (subnets {', '.join(network.subnet_ids)}; "
            f"security groups {', '.join(network.security_group_ids)}), " in line
        )
        assert ", inbound auth JWT (" in line
        assert line.endswith(", tracing on (ADOT in the container, platform spans to X-Ray)")


def test_each_endpoint_shows_the_version_it_follows(
    example_preview: preview.Preview, example_config: EnvironmentConfig
) -> None:
    live, candidate = example_config.release.endpoint, example_config.release.candidate_endpoint
    endpoints = example_preview["endpoints"]
    for runtime in ("AgentRuntime", "McpServerRuntime"):
        assert endpoints[f"runtime endpoint Runtimes/{runtime}Endpoint{live}"] == (
            f"{live} of <Runtimes/{runtime}>.AgentRuntimeId, starts at version 1; "
            "only `python -m stacks.release promote` moves it"
        )
        assert endpoints[f"runtime endpoint Runtimes/{runtime}Endpoint{candidate.replace('_', '')}"] == (
            f"{candidate} of <Runtimes/{runtime}>.AgentRuntimeId, follows each deployed version"
        )


def test_memory_shows_each_strategy_and_its_namespaces(
    example_preview: preview.Preview, example_config: EnvironmentConfig
) -> None:
    memory = example_config.memory
    # The CloudFormation property each strategy renders, <Kind>MemoryStrategy, shown as <Kind>.
    kinds = {"semantic": "Semantic", "user_preference": "UserPreference", "summary": "Summary"}
    shown = ", ".join(
        f"{kinds[name]} {STRATEGIES[name].name} ({STRATEGIES[name].namespace})" for name in memory.strategies
    )
    assert example_preview["memory"][memory.name] == (
        f"events expire after {memory.event_expiry_days} days; strategies: {shown}"
    )


def test_make_preview_prints_the_example(
    example: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make preview CONFIG_DIR=config/examples ENV=private` prints after its synth."""
    assert preview.main([EXAMPLE, "--outdir", str(example.outdir), "--state-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"== {EXAMPLE}: {EXAMPLE}/Stateful, {EXAMPLE}/Handoff, {EXAMPLE}/Runtimes, ")
    assert f"\n  gateway {gateway_name(EXAMPLE)}" in text and "gateway target Runtimes/GatewayMcpServerTarget" in text
