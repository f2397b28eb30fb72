"""Observability: a dashboard over both runtimes, the task engine and the handoff, and alarms
that reach the environment's topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aws_cdk.assertions import Match

from app import build
from kit_contracts import metrics
from stacks.config import CONFIG_DIR
from stacks.constructs.observability import lost_work_threshold_seconds
from tests.infra.conftest import make_app

ALARMS = {
    "AgentSystemErrors",
    "McpServerSystemErrors",
    "TaskFailureRate",
    "LostWorkerRecoveries",
    "HandoffFailures",
    "HandoffDeadLetters",
    "LostWorkUnclaimed",
    "AbandonedPublications",
    "TaskFaults",
    "SweeperErrors",
    "SweeperDeadLetters",
}


def alarms(synthesized, env: str) -> dict[str, dict]:
    resources = synthesized.template_json(env, "observability")["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def alarm(synthesized, env: str, name: str) -> dict:
    (props,) = [p for n, p in alarms(synthesized, env).items() if n.startswith(f"Observability{name}")]
    return props


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
    # A tool's own error completes its task (SEP-2663) but counts as a failure here.
    assert expression["Expression"] == (
        "100 * (FILL(failed, 0) + FILL(toolErrors, 0)) / (FILL(failed, 0) + FILL(completed, 0))"
    )
    used = {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}
    assert used == {metrics.TASKS_FAILED, metrics.TASKS_COMPLETED, metrics.TASK_TOOL_ERRORS}
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


def test_lost_work_alarm_fires_when_an_expired_lease_outlives_three_sweeps_and_a_lease(synthesized) -> None:
    props = alarm(synthesized, "dev", "LostWorkUnclaimed")
    assert (props["Namespace"], props["MetricName"]) == (metrics.NAMESPACE, metrics.OLDEST_EXPIRED_LEASE_AGE)
    assert props["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": "dev"}]
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Maximum", 300, 2)
    assert props["Threshold"] == 300 and props["ComparisonOperator"] == "GreaterThanThreshold"


def test_lost_work_threshold_follows_the_sweep_interval() -> None:
    from aws_cdk import Duration

    # Every minute: 3 x 60 s + two 60 s leases (the sweep index's grid) is the 5-minute floor.
    assert lost_work_threshold_seconds(Duration.minutes(1)) == 300
    assert lost_work_threshold_seconds(Duration.minutes(15)) == 3 * 900 + 2 * 60


def test_a_slow_schedule_widens_the_sweepers_alarm_periods(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["sweeper"] = {"schedule_minutes": 15}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    (stage,) = build(make_app(tmp_path / "out", env="dev", config_dir=str(tmp_path)))
    from aws_cdk.assertions import Template

    found = {
        n: r["Properties"]
        for n, r in Template.from_stack(stage.observability).find_resources("AWS::CloudWatch::Alarm").items()
    }
    (lost,) = [p for n, p in found.items() if n.startswith("ObservabilityLostWorkUnclaimed")]
    assert (lost["Period"], lost["Threshold"]) == (900, 3 * 900 + 2 * 60)
    (errors,) = [p for n, p in found.items() if n.startswith("ObservabilitySweeperErrors")]
    assert errors["Period"] == 900


@pytest.mark.parametrize("name", ["AbandonedPublications", "TaskFaults"])
def test_the_first_abandoned_publication_or_task_fault_alarms(synthesized, name: str) -> None:
    props = alarm(synthesized, "dev", name)
    metric = {"AbandonedPublications": metrics.ABANDONED_PUBLICATIONS, "TaskFaults": metrics.TASK_FAULTS}[name]
    assert (props["Namespace"], props["MetricName"]) == (metrics.NAMESPACE, metric)
    assert (props["Statistic"], props["Threshold"], props["EvaluationPeriods"]) == ("Sum", 1, 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_sweeper_errors_alarm_on_two_failing_periods_and_dead_letters_on_the_first(synthesized) -> None:
    errors = alarm(synthesized, "dev", "SweeperErrors")
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    (dimension,) = errors["Dimensions"]
    assert dimension["Name"] == "FunctionName" and "SweeperFunction" in dimension["Value"]["Fn::ImportValue"]
    assert (errors["Threshold"], errors["EvaluationPeriods"]) == (1, 2)
    dead = alarm(synthesized, "dev", "SweeperDeadLetters")
    assert dead["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert "SweeperDeadLetters" in json.dumps(dead["Dimensions"])
    assert (dead["Threshold"], dead["EvaluationPeriods"]) == (1, 1)


def test_dashboard_shows_lost_work_and_the_sweeper(synthesized) -> None:
    (dashboard,) = [
        r["Properties"]
        for r in synthesized.template_json("dev", "observability")["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = json.dumps(dashboard["DashboardBody"])
    for text in ("Lost work: oldest expired lease (s)", "Sweeper", "SweeperFunction", "SweeperDeadLetters"):
        assert text in body, text


@pytest.mark.parametrize(("env", "state"), [("dev", "**off**"), ("prod", "**on**")])
def test_the_dashboard_links_to_the_traces(synthesized, env: str, state: str) -> None:
    body = json.dumps(synthesized.template_json(env, "observability")["Resources"])
    assert "### Traces" in body and f"Tracing is {state}" in body
    for fragment in ("#gen-ai-observability/agent-core", "#xray:service-map/map", "#xray:traces/query"):
        assert fragment in body
