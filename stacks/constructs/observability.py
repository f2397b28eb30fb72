"""One dashboard and the alarms a platform team pages on, per Stage."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from kit_contracts import metrics
from stacks.constructs.sweeper import TASK_LEASE_SECONDS, Sweeper

FIVE_MINUTES = Duration.minutes(5)
# Below this the lost-work alarm would page on a task one slow sweep away from being picked up.
LOST_WORK_FLOOR_SECONDS = 300


def traces_markdown(tracing: bool) -> str:
    """Where a run's traces are: CloudWatch's GenAI observability view and the X-Ray trace map."""
    console = f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
    state = (
        "Tracing is **on** in this environment (`observability.tracing`)."
        if tracing
        else "Tracing is **off** in this environment: set `observability.tracing: true` to record spans."
    )
    return (
        "### Traces\n"
        f"{state} "
        f"[GenAI observability (agents, sessions, traces)]({console}#gen-ai-observability/agent-core) · "
        f"[X-Ray trace map]({console}#xray:service-map/map) · "
        f"[Transaction search]({console}#xray:traces/query)"
    )


def lost_work_threshold_seconds(sweep_interval: Duration) -> int:
    """How stale an expired lease may get before it pages: three missed sweeps and two leases (a sweep
    first sees a lease up to two leases after it ran out: the task table's sweep index moves on a grid
    two leases wide, so that renewals do not write it)."""
    return max(LOST_WORK_FLOOR_SECONDS, 3 * int(sweep_interval.to_seconds()) + 2 * TASK_LEASE_SECONDS)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        runtimes: dict[str, agentcore.IBedrockAgentRuntime],
        state_machine: sfn.IStateMachine,
        dead_letters: sqs.IQueue,
        sweeper: Sweeper,
        encryption_key: kms.IKey,
        alarm_topic_arn: str | None,
        alarm_emails: Sequence[str],
        task_failure_rate_percent: int,
        tracing: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if alarm_topic_arn:
            self.topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
        else:
            topic = sns.Topic(
                self,
                "AlarmTopic",
                display_name=f"Agent kit {env_name} alarms",
                master_key=encryption_key,
                enforce_ssl=True,
            )
            for email in alarm_emails:
                topic.add_subscription(subscriptions.EmailSubscription(email))
            self.topic = topic
        self._action = actions.SnsAction(self.topic)

        def task_metric(name: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=metrics.NAMESPACE,
                metric_name=name,
                dimensions_map={metrics.DIMENSION: env_name},
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, runtime in runtimes.items():
            self._alarm(
                f"{name}SystemErrors",
                runtime.metric_system_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"The {name} runtime reported platform (system) errors",
            )
        failed, completed = task_metric(metrics.TASKS_FAILED), task_metric(metrics.TASKS_COMPLETED)
        tool_errors = task_metric(metrics.TASK_TOOL_ERRORS)
        self._alarm(
            "TaskFailureRate",
            cloudwatch.MathExpression(
                # A tool's own error completes its task (the protocol's word) but is a failure here.
                # FILL: a period with failures but no tool errors (or none completed) still has a value.
                expression="100 * (FILL(failed, 0) + FILL(toolErrors, 0)) / (FILL(failed, 0) + FILL(completed, 0))",
                using_metrics={"failed": failed, "completed": completed, "toolErrors": tool_errors},
                label="Failed tasks (%)",
                period=Duration.minutes(15),
            ),
            threshold=task_failure_rate_percent,
            operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"More than {task_failure_rate_percent}% of finished tasks failed",
        )
        self._alarm(
            "LostWorkerRecoveries",
            task_metric(metrics.LOST_WORKER_RECOVERIES),
            threshold=1,
            description="Tasks whose worker died (process killed, microVM reaped) were failed or re-run",
        )
        # Sweeps run every `interval`: a period shorter than that would see gaps, not health.
        sweep_period = FIVE_MINUTES if sweeper.interval.to_seconds() <= 300 else sweeper.interval
        lost_after = lost_work_threshold_seconds(sweeper.interval)
        self._alarm(
            "LostWorkUnclaimed",
            task_metric(metrics.OLDEST_EXPIRED_LEASE_AGE, "Maximum").with_(period=sweep_period),
            threshold=lost_after,
            operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            description=f"A task's lease expired more than {lost_after} s ago and no sweep has taken it over",
        )
        self._alarm(
            "AbandonedPublications",
            task_metric(metrics.ABANDONED_PUBLICATIONS),
            threshold=1,
            description="A finished task's result event was given up on after its retries",
        )
        self._alarm(
            "TaskFaults",
            task_metric(metrics.TASK_FAULTS),
            threshold=1,
            description="A failure while finishing, publishing or renewing a task ended it",
        )
        self._alarm(
            "SweeperErrors",
            sweeper.function.metric_errors(period=sweep_period, statistic="Sum"),
            threshold=1,
            evaluation_periods=2,
            description="Scheduled sweeps failed in two periods running",
        )
        self._alarm(
            "SweeperDeadLetters",
            sweeper.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=1,
            description="EventBridge Scheduler could not invoke the sweeper",
        )
        self._alarm(
            "HandoffFailures",
            state_machine.metric_failed(period=FIVE_MINUTES),
            threshold=1,
            description="Handoff workflow executions failed",
        )
        self._alarm(
            "HandoffDeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=1,
            description="Handoff requests EventBridge could not deliver to the workflow",
        )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"agent-kit-{env_name}", default_interval=Duration.hours(6)
        )
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=traces_markdown(tracing), width=24, height=3))
        for name, runtime in runtimes.items():
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name} runtime: invocations and sessions",
                    left=[runtime.metric_invocations(period=FIVE_MINUTES, statistic="Sum")],
                    right=[runtime.metric_session_count(period=FIVE_MINUTES, statistic="Sum")],
                ),
                cloudwatch.GraphWidget(
                    title=f"{name} runtime: latency",
                    left=[runtime.metric_latency(period=FIVE_MINUTES, statistic=stat) for stat in ("p50", "p99")],
                ),
                cloudwatch.GraphWidget(
                    title=f"{name} runtime: errors and throttles",
                    left=[
                        runtime.metric_system_errors(period=FIVE_MINUTES, statistic="Sum"),
                        runtime.metric_user_errors(period=FIVE_MINUTES, statistic="Sum"),
                        runtime.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                    ],
                ),
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tasks",
                left=[
                    task_metric(m)
                    for m in (
                        metrics.TASKS_STARTED,
                        metrics.TASKS_COMPLETED,
                        metrics.TASKS_FAILED,
                        metrics.TASK_TOOL_ERRORS,
                        metrics.TASKS_CANCELLED,
                    )
                ],
                right=[task_metric(metrics.LOST_WORKER_RECOVERIES)],
            ),
            cloudwatch.GraphWidget(
                title="Task duration (s)",
                left=[task_metric(metrics.TASK_DURATION, stat) for stat in ("p50", "p99", "Maximum")],
            ),
            cloudwatch.GraphWidget(
                title="Lost work: oldest expired lease (s)",
                left=[task_metric(metrics.OLDEST_EXPIRED_LEASE_AGE, "Maximum").with_(period=sweep_period)],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=lost_after, label="alarm")],
                right=[
                    task_metric(m)
                    for m in (metrics.TASKS_HANDED_OVER, metrics.ABANDONED_PUBLICATIONS, metrics.TASK_FAULTS)
                ],
            ),
            cloudwatch.GraphWidget(
                title="Sweeper",
                left=[
                    sweeper.function.metric_invocations(period=FIVE_MINUTES, statistic="Sum"),
                    sweeper.function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                    sweeper.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                ],
                right=[sweeper.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1))],
            ),
            cloudwatch.GraphWidget(
                title="Handoff executions",
                left=[
                    state_machine.metric_started(period=FIVE_MINUTES),
                    state_machine.metric_succeeded(period=FIVE_MINUTES),
                    state_machine.metric_failed(period=FIVE_MINUTES),
                ],
                right=[dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1))],
            ),
        )
        self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values())))

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        operator: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=operator,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[name] = alarm
