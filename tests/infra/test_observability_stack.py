"""Observability: a dashboard over both runtimes, the task engine and the handoff, and alarms
that reach the environment's topic."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from aws_cdk.assertions import Match

from app import build
from kit_contracts import metrics
from stacks.config import CONFIG_DIR
from tests.infra.conftest import make_app

ALARMS = {
    "AgentSystemErrors",
    "McpServerSystemErrors",
    "TaskFailureRate",
    "LostWorkerRecoveries",
    "HandoffFailures",
    "HandoffDeadLetters",
}


def alarms(synthesized, env: str) -> dict[str, dict]:
    resources = synthesized.template_json(env, "observability")["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_dead_letter_alarm_fires_on_the_first_message(synthesized) -> None:
    (props,) = [p for n, p in alarms(synthesized, "dev").items() if n.startswith("ObservabilityHandoffDeadLetters")]
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_every_alarm_exists_and_notifies_the_kit_topic(synthesized) -> None:
    found = alarms(synthesized, "dev")
    assert {next(a for a in ALARMS if name.startswith(f"Observability{a}")) for name in found} == ALARMS
    topic = synthesized.template("dev", "observability")
    topic.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    for props in found.values():
        assert props["AlarmActions"] == [{"Ref": "ObservabilityAlarmTopicF724909D"}]
        assert props["TreatMissingData"] == "notBreaching"


def test_task_failure_rate_is_a_ratio_of_the_engines_metrics(synthesized) -> None:
    (props,) = [p for n, p in alarms(synthesized, "dev").items() if n.startswith("ObservabilityTaskFailureRate")]
    assert props["Threshold"] == 20 and props["ComparisonOperator"] == "GreaterThanThreshold"
    expression = next(m for m in props["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "100 * failed / (failed + completed)"
    used = {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}
    assert used == {metrics.TASKS_FAILED, metrics.TASKS_COMPLETED}
    namespaces = {m["MetricStat"]["Metric"]["Namespace"] for m in props["Metrics"] if "MetricStat" in m}
    assert namespaces == {metrics.NAMESPACE}


def test_dashboard_covers_runtimes_tasks_and_handoff(synthesized) -> None:
    (dashboard,) = [
        r["Properties"]
        for r in synthesized.template_json("dev", "observability")["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = json.dumps(dashboard["DashboardBody"])
    for metric in ("Invocations", "SessionCount", "Latency", "SystemErrors", "UserErrors", "Throttles"):
        assert metric in body, metric
    for metric in metrics.TASK_METRICS:
        assert metric in body, metric
    for metric in ("ExecutionsStarted", "ExecutionsFailed", "ApproximateNumberOfMessagesVisible"):
        assert metric in body, metric


def test_an_existing_topic_from_config_is_used_instead(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["observability"] = {"alarm_topic_arn": "arn:aws:sns:us-east-1:123456789012:platform-pager"}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    (stage,) = build(make_app(tmp_path / "out", env="dev", config_dir=str(tmp_path)))
    from aws_cdk.assertions import Template

    template = Template.from_stack(stage.observability)
    template.resource_count_is("AWS::SNS::Topic", 0)
    for props in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert props["Properties"]["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:platform-pager"]


def test_the_mcp_server_emits_metrics_under_the_dimension_the_alarms_read(synthesized) -> None:
    runtime = synthesized.template_json("dev", "runtimes")["Resources"]["McpServerRuntime59F17E8D"]
    assert runtime["Properties"]["EnvironmentVariables"]["KIT_ENVIRONMENT"] == "dev"
    (props,) = [p for n, p in alarms(synthesized, "dev").items() if n.startswith("ObservabilityLostWorkerRecoveries")]
    assert props["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": "dev"}]
    assert props["Namespace"] == metrics.NAMESPACE
