"""cdk-nag gates synth: the shipped app passes, and an unacknowledged finding fails it."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from app import build
from tests.infra.conftest import make_app


def test_every_stage_passes_aws_solutions_and_serverless_checks(synthesized) -> None:
    report = synthesized.outdir / "validation-report.json"
    if report.exists():
        plugin_reports = json.loads(report.read_text())["pluginReports"]
        assert all(r["conclusion"] == "success" for r in plugin_reports), plugin_reports


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    app = make_app(tmp_path, env="dev")
    (stage,) = build(app)
    runtime = stage.runtimes.mcp_server.runtime
    runtime.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:Get*"], resources=["arn:aws:s3:::some-bucket/key"])
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for r in report["pluginReports"] for v in r["violations"]]
    assert [v["ruleName"] for v in violations] == ["AwsSolutions-IAM5[Action::s3:Get*]"]
    assert violations[0]["violatingConstructs"][0]["constructPath"] == (
        "dev/Runtimes/McpServer/Runtime/ExecutionRole/DefaultPolicy/Resource"
    )


def test_each_acknowledgement_names_one_finding_on_one_resource_with_a_reason(synthesized) -> None:
    seen = 0
    for stage in synthesized.stages.values():
        for construct in stage.node.find_all():
            for entry in construct.node.metadata:
                if entry.type != "aws:cdk:acknowledged-rules":
                    continue
                seen += 1
                ((rule, reason),) = entry.data.items()  # one finding per acknowledgement
                assert "*" not in rule.split("[")[0], rule  # a rule id, not a pattern of rules
                assert len(reason) >= 30, (construct.node.path, rule)
                # On a resource, never on a Stage or Stack as a blanket.
                assert not isinstance(construct, (cdk.Stage, cdk.Stack)), construct.node.path
    assert seen > 0
