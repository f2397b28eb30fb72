"""cdk-nag gates synth: the shipped app passes, and an unacknowledged finding fails it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

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
    runtime.add_to_role_policy(iam.PolicyStatement(actions=["s3:Get*"], resources=["arn:aws:s3:::some-bucket/key"]))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for r in report["pluginReports"] for v in r["violations"]]
    assert [v["ruleName"] for v in violations] == ["AwsSolutions-IAM5[Action::s3:Get*]"]
    assert violations[0]["violatingConstructs"][0]["constructPath"] == (
        "dev/Runtimes/McpServer/ExecutionRole/DefaultPolicy/Resource"
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


class _RecordingValidations:
    """Stands in for aws_cdk.Validations inside stacks.nag: records acknowledgements instead."""

    recorded: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, construct) -> None:
        self._construct = construct

    @classmethod
    def of(cls, construct):
        return cls(construct)

    def add_plugins(self, *plugins) -> None:
        cdk.Validations.of(self._construct).add_plugins(*plugins)

    def acknowledge(self, *acks) -> None:
        self.recorded.extend((self._construct.node.path, ack.id) for ack in acks)


def test_no_acknowledgement_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every acknowledged finding is one cdk-nag really reports on that resource."""
    import stacks.nag

    monkeypatch.setattr(stacks.nag, "Validations", _RecordingValidations)
    _RecordingValidations.recorded = []
    app = make_app(tmp_path)
    build(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    found = {
        (c["constructPath"], v["ruleName"])
        for r in report["pluginReports"]
        for v in r["violations"]
        for c in v["violatingConstructs"]
    }
    nag_acks = [(path, rule) for path, rule in _RecordingValidations.recorded if not rule.startswith("Annotation::")]
    assert nag_acks
    stale = [
        (path, rule)
        for path, rule in nag_acks
        if not any(found_path.startswith(path) and found_rule == rule for found_path, found_rule in found)
    ]
    assert stale == []
