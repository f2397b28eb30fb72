"""The scheduled sweeper: the MCP server's sweep, run by a Lambda on a schedule, so that lost work
is noticed while no MCP session is alive (runtime_images/mcp_server/mcp_server/sweeper_lambda.py).

It fails lost non-resumable tasks, republishes overdue result events and, in IAM environments,
wakes a fresh MCP runtime session to take over lost resumable tasks. With JWT inbound auth the
MCP runtime accepts no SigV4 call, so there the sweeper holds no invoke permission and a lost
resumable task waits for the next session (the lost-work alarm says when that takes too long).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, SymlinkFollowMode
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.handoff import POWERTOOLS_LAYER_ACCOUNT, POWERTOOLS_LAYER_VERSION, RUNTIME
from stacks.constructs.memory import AgentMemory
from stacks.constructs.runtime import IMAGES_DIR
from stacks.constructs.task_table import TaskTable
from stacks.nag import acknowledge

# The MCP server's package is the Lambda's code: the sweep is the server's own (engine/sweeper.py).
CODE_DIR = IMAGES_DIR / "mcp_server"
HANDLER = "mcp_server.sweeper_lambda.handler"
# Image inputs the Lambda does not need; kit_contracts (a symlink) is followed into the bundle.
CODE_EXCLUDE = ["Dockerfile", "requirements.txt", ".dockerignore", "**/__pycache__", "**/*.pyc"]
TIMEOUT = Duration.minutes(5)
# The lease a task's worker renews: the MCP server's TASK_LEASE_SECONDS default, which no
# environment overrides (tests/infra/test_runtime_env_contract.py checks both deployables agree).
TASK_LEASE_SECONDS = 60


def powertools_layer_arn() -> str:
    """The Powertools public layer the handoff Lambdas use, for this runtime and architecture."""
    runtime = RUNTIME.name.replace(".", "")  # python3.14 -> python314
    return (
        f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{runtime}-arm64:{POWERTOOLS_LAYER_VERSION}"
    )


class Sweeper(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        schedule_minutes: int,
        task_table: TaskTable,
        memory: AgentMemory,
        wake_runtime: agentcore.Runtime | None,
        wake_endpoint: str = "live",
        encryption_key: kms.IKey,
        log_group_prefix: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        """`wake_runtime`: the MCP runtime to wake for lost resumable tasks (IAM environments), or None;
        `wake_endpoint`: its endpoint (the promoted version, `release.endpoint`)."""
        super().__init__(scope, construct_id)
        self.interval = Duration.minutes(schedule_minutes)
        environment = {
            "TASK_TABLE_NAME": task_table.table.table_name,
            "MEMORY_ID": memory.memory.memory_id,
            # The dimension of the sweep's embedded metrics, as on the MCP runtime.
            "KIT_ENVIRONMENT": env_name,
        }
        if wake_runtime is not None:
            environment["MCP_RUNTIME_ARN"] = wake_runtime.agent_runtime_arn
            environment["MCP_RUNTIME_ENDPOINT"] = wake_endpoint

        # Named under the environment's prefix: the kit key lets CloudWatch Logs encrypt those only.
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{log_group_prefix}/sweeper",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=removal_policy,
        )
        # An own role: the default one carries AWSLambdaBasicExecutionRole, which may write to any log group.
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Sweeps the task table for lost work while no MCP session is alive",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(CODE_DIR), exclude=CODE_EXCLUDE, follow_symlinks=SymlinkFollowMode.ALWAYS),
            # pydantic comes with the layer, boto3 with the runtime; the package needs nothing else.
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn())],
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # Pinned: botocore logs request bodies (task results among them) at DEBUG.
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=TIMEOUT,
            memory_size=256,
            # One sweep at a time: two would race for the same take-overs (the writes are
            # conditional, so that would be waste rather than harm).
            reserved_concurrent_executions=1,
            # The schedule invokes asynchronously. A failed sweep is not retried, and an invocation
            # still queued when the next is due is dropped: the next sweep does the same work.
            retry_attempts=0,
            max_event_age=self.interval,
            environment=environment,
        )

        task_table.grant_sweep_access(self.function)
        memory.grant_write_events(self.function)
        policy = role.node.find_child("DefaultPolicy")
        if wake_runtime is not None:
            # InvokeAgentRuntime only, never ...ForUser: the wake-up names no user.
            wake_runtime.grant_invoke_runtime(self.function)
            stack = Stack.of(self)
            cfn_runtime = wake_runtime.node.find_child("Resource")
            runtime_id = stack.resolve(stack.get_logical_id(cfn_runtime))  # type: ignore[arg-type]
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{runtime_id}.AgentRuntimeArn>/*]",
                "InvokeAgentRuntime on the MCP runtime and its endpoints only (ARN/*), to wake a "
                "session for a lost resumable task.",
            )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) accept no resource.",
        )
        for finding in ("Serverless-LambdaDLQ", "Serverless-LambdaAsyncFailureDestination"):
            acknowledge(
                self.function,
                finding,
                "A failed sweep has nothing to redrive: the next scheduled sweep repeats it, and the "
                "sweeper's errors alarm.",
            )

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        for finding, reason in (
            ("AwsSolutions-SQS3", "This queue is the dead-letter queue of the sweeper's schedule."),
            ("Serverless-SQSRedrivePolicy", "A dead-letter queue has no redrive of its own; its depth alarms."),
        ):
            acknowledge(self.dead_letters, finding, reason)

        # The schedule's own role (not the one the target would add at the stack's root), assumable
        # only by EventBridge Scheduler for this account's default schedule group.
        schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": Aws.ACCOUNT_ID,
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}"
                        ":schedule-group/default",
                    }
                },
            ),
        )
        # Scheduler sends undeliverable invocations to the queue as this role, and SQS encrypts
        # them with the kit key on the sender's behalf.
        schedule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com"}},
            )
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="Run the task sweeper",
            schedule=scheduler.ScheduleExpression.rate(self.interval),
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=schedule_role,
                dead_letter_queue=self.dead_letters,
                retry_attempts=3,
                # A sweep not delivered before the next one is due is superseded by it.
                max_event_age=self.interval,
            ),
        )
        stack = Stack.of(self)
        function_id = stack.resolve(stack.get_logical_id(self.function.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            schedule_role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "lambda:InvokeFunction on the sweeper function and its versions only.",
        )
