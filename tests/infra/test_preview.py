"""`make preview` over the session's synthesized assembly: each section names the resources it should, and a
second preview of a changed template reports the change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks import preview
from tests.infra.conftest import Synthesized


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
    assert not any(key.startswith("gateway ") for key in endpoints)  # the kit deploys no gateway


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
    assert task_table.startswith("on demand (PAY_PER_REQUEST)") and "by_owner (owner, created_at; ALL)" in task_table
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
