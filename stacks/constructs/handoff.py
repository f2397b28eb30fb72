"""EventBridge → Step Functions handoff that runs each irreversible step exactly once.

validate (and verify the idempotency key) → claim the key → [human approval] → execute once →
record the outcome in AgentCore Memory; a failure after the side effect compensates, records
and fails. `admit_only` gives the bus the resource policy that lets only the MCP server put
handoff events on it.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, SymlinkFollowMode
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from kit_contracts import handoff as contract
from stacks.constructs.grants import grant_table_items
from stacks.constructs.kit_key import VENDED_LOGS_PREFIX
from stacks.constructs.memory import AgentMemory
from stacks.nag import acknowledge

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
# Powertools for AWS Lambda (Python) v3 public layer; its Powertools version must match
# lambdas/requirements.txt. The layer carries pydantic; boto3 comes with the runtime.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 27
RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_TIMEOUT = Duration.seconds(30)
FUNCTIONS = ("validate", "approval", "execute", "compensate", "record")


class Handoff(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        memory: AgentMemory,
        idempotency_table: dynamodb.ITable,
        encryption_key: kms.IKey,
        approval_required: bool,
        approval_timeout: Duration,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        log_group_prefix: str,
        approval_allow_self: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_group_prefix = log_group_prefix
        self._key = encryption_key
        self._retention = log_retention
        self._removal = removal_policy
        ledger_prefix = f"/agent-kit/{env_name}"
        environment = {
            "IDEMPOTENCY_TABLE": idempotency_table.table_name,
            "MEMORY_ID": memory.memory.memory_id,
            "LEDGER_PREFIX": ledger_prefix,
            "POWERTOOLS_SERVICE_NAME": "agent-kit-handoff",
        }
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python314-arm64:{POWERTOOLS_LAYER_VERSION}",
        )
        code = lambda_.Code.from_asset(
            str(LAMBDAS_DIR),
            exclude=["requirements.txt", "**/__pycache__", "**/*.pyc"],
            # lambdas/kit_contracts is a link to the repository's package; the deployment package needs its files.
            follow_symlinks=SymlinkFollowMode.ALWAYS,
        )
        names = [n for n in FUNCTIONS if approval_required or n != "approval"]
        # Read by the approval step only, which stores it with the claim for `handoff.approve`.
        own = {"approval": {"APPROVAL_ALLOW_SELF": "true" if approval_allow_self else "false"}}
        self.functions = {
            name: self._function(name, code=code, layer=powertools, environment={**environment, **own.get(name, {})})
            for name in names
        }

        # Least privilege per step.
        fns = self.functions
        grant_table_items(fns["execute"], idempotency_table, ("GetItem", "PutItem", "UpdateItem", "DeleteItem"))
        memory.grant_write_events(fns["record"])
        if approval_required:
            grant_table_items(fns["approval"], idempotency_table, ("UpdateItem",))
            memory.grant_write_events(fns["approval"])
        ledger = f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter{ledger_prefix}/sandbox-requests/*"
        for name, actions in (
            ("execute", ["ssm:PutParameter", "ssm:GetParameter", "ssm:AddTagsToResource"]),
            ("compensate", ["ssm:DeleteParameter"]),
        ):
            fns[name].add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[ledger]))
            acknowledge(
                fns[name].role.node.find_child("DefaultPolicy"),  # type: ignore[union-attr]
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:"
                f"parameter{ledger_prefix}/sandbox-requests/*]",
                "One ledger parameter per request, named by its idempotency key; scoped to this "
                "environment's sandbox-requests path.",
            )

        self.state_machine = self._state_machine(
            idempotency_table, approval_required=approval_required, approval_timeout=approval_timeout
        )

        self.bus = events.EventBus(self, "Bus", description="Handoff requests from the MCP server")
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
            ("AwsSolutions-SQS3", "This queue is the dead-letter queue of the handoff rule's target."),
            (
                "Serverless-SQSRedrivePolicy",
                "A dead-letter queue has no redrive of its own; its depth alarms.",
            ),
        ):
            acknowledge(self.dead_letters, finding, reason)
        self.rule = events.Rule(
            self,
            "HandoffRequested",
            event_bus=self.bus,
            description="Start the handoff workflow for each valid handoff request",
            event_pattern=events.EventPattern(
                source=[contract.EVENT_SOURCE],
                detail_type=[contract.EVENT_DETAIL_TYPE],
                detail={
                    "schema_version": [contract.SCHEMA_VERSION],
                    "kind": list(contract.KINDS),
                    "idempotency_key": [{"exists": True}],
                },
            ),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                input=events.RuleTargetInput.from_event_path("$.detail"),
                dead_letter_queue=self.dead_letters,
                retry_attempts=8,
                max_event_age=Duration.hours(6),
            )
        )

    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        # Named under the environment's prefix: the kit key lets CloudWatch Logs encrypt those only.
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=self._retention,
            encryption_key=self._key,
            removal_policy=self._removal,
        )

    def _function(
        self,
        name: str,
        *,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
    ) -> lambda_.Function:
        log_group = self._log_group(f"{name.title()}Logs", f"{self._log_group_prefix}/handoff/{name}")
        # An own role: the default one carries the AWSLambdaBasicExecutionRole managed
        # policy, which may write to any log group.
        role = iam.Role(self, f"{name.title()}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            f"{name.title()}Function",
            description=f"Handoff workflow: {name}",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"handoff.handlers.{name}.handler",
            code=code,
            layers=[layer],
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # Pinned: botocore logs request bodies at DEBUG, the approval's task token among them.
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=LAMBDA_TIMEOUT,
            memory_size=256,
            environment=environment,
        )
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) accept no resource.",
        )
        acknowledge(
            function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously by Step Functions, which retries and catches its errors.",
        )
        return function

    def _invoke(self, name: str, state_id: str, **kwargs: object) -> tasks.LambdaInvoke:
        kwargs.setdefault("task_timeout", sfn.Timeout.duration(Duration.seconds(60)))
        return tasks.LambdaInvoke(self, state_id, lambda_function=self.functions[name], **kwargs)  # type: ignore[arg-type]

    def _record(self, state_id: str, outcome: str) -> tasks.LambdaInvoke:
        return self._invoke(
            "record",
            state_id,
            payload=sfn.TaskInput.from_object({"outcome": outcome, "detail": sfn.JsonPath.object_at("$")}),
            result_path="$.recorded",
        )

    def _state_machine(
        self, idempotency_table: dynamodb.ITable, *, approval_required: bool, approval_timeout: Duration
    ) -> sfn.StateMachine:
        claim = tasks.DynamoPutItem(
            self,
            "ClaimIdempotencyKey",
            table=idempotency_table,
            item={
                "id": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.format("claim#{}", sfn.JsonPath.string_at("$.idempotency_key"))
                ),
                "kind": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.kind")),
                "execution": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.execution_id),
                "claimed_at": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
            },
            condition_expression="attribute_not_exists(id)",
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(30)),
        )
        claim.add_retry(
            errors=[
                "DynamoDB.ProvisionedThroughputExceededException",
                "DynamoDB.InternalServerErrorException",
            ],
            max_attempts=4,
        )
        duplicate = sfn.Succeed(self, "Duplicate", comment="This idempotency key was already handled.")
        claim.add_catch(duplicate, errors=["DynamoDB.ConditionalCheckFailedException"], result_path="$.error")

        # First, so that only a verified key is claimed: a forged or inconsistent input claims nothing.
        validate = self._invoke("validate", "Validate", output_path="$.Payload")
        validate.add_catch(
            self._record("RecordInvalid", "invalid").next(sfn.Fail(self, "Invalid", error="ValidationFailed")),
            errors=["ValidationFailed"],
            result_path="$.error",
        )

        execute = self._invoke(
            "execute",
            "Execute",
            result_selector={"result": sfn.JsonPath.object_at("$.Payload")},
            result_path="$.execution",
        )
        record_failure = self._record("RecordFailure", "failed").next(sfn.Fail(self, "StepFailed", error="StepFailed"))
        compensate = self._invoke(
            "compensate",
            "Compensate",
            payload=sfn.TaskInput.from_object({"detail": sfn.JsonPath.object_at("$")}),
            result_selector={"result": sfn.JsonPath.object_at("$.Payload")},
            result_path="$.compensation",
        )
        compensate.add_catch(record_failure, errors=["States.ALL"], result_path="$.compensation")
        execute.add_catch(compensate.next(record_failure), errors=["States.ALL"], result_path="$.error")
        done = self._record("RecordOutcome", "completed").next(sfn.Succeed(self, "Done"))
        run = execute.next(done)

        chain = validate.next(claim)
        if approval_required:
            # The approver answers with `python -m handoff.approve` (SendTaskSuccess/Failure).
            approval = self._invoke(
                "approval",
                "AwaitApproval",
                integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
                payload=sfn.TaskInput.from_object(
                    {"task_token": sfn.JsonPath.task_token, "detail": sfn.JsonPath.object_at("$")}
                ),
                heartbeat_timeout=sfn.Timeout.duration(approval_timeout),
                task_timeout=sfn.Timeout.duration(approval_timeout.plus(Duration.minutes(5))),
                result_path="$.approval",
            )
            approval.add_catch(
                self._record("RecordRejected", "rejected").next(sfn.Succeed(self, "Rejected")),
                errors=["Rejected", "States.Timeout", "States.HeartbeatTimeout"],
                result_path="$.error",
            )
            chain = chain.next(approval)
        chain = chain.next(run)

        log_group = self._log_group("WorkflowLogs", f"{VENDED_LOGS_PREFIX}{self._log_group_prefix}/handoff-workflow")
        machine = sfn.StateMachine(
            self,
            "Workflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(chain),
            timeout=approval_timeout.plus(Duration.hours(1)),
            tracing_enabled=True,
            # Every event (cdk-nag AwsSolutions-SF1 asks for ALL) but no inputs or outputs: the
            # approval state's input holds its task token, which is the approval itself.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        policy = machine.role.node.find_child("DefaultPolicy")
        for fn in self.functions.values():
            logical_id = Stack.of(self).resolve(Stack.of(self).get_logical_id(fn.node.default_child))  # type: ignore[arg-type]
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                "lambda:InvokeFunction on this workflow's function and its versions only.",
            )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Log delivery (logs:*LogDelivery, resource policies) and X-Ray calls accept no resource.",
        )
        return machine

    def admit_only(self, role: iam.IRole, scope: Construct) -> None:
        """Deny PutEvents on the bus to every principal but `role`, and for every other source.

        The statements go into `scope`, the stack of `role` (the MCP server's, in the Runtimes
        stack, which depends on this one for the bus): a policy here naming that role would be
        a dependency cycle. Deny, not Allow: an Allow in a bus policy adds to IAM, while an
        explicit Deny overrides any identity policy in the account, operators' included.
        """
        previous: events.CfnEventBusPolicy | None = None
        for statement_id, condition in (
            ("DenyPutEventsToAllButTheMcpServer", {"StringNotEquals": {"aws:PrincipalArn": role.role_arn}}),
            ("DenyPutEventsOfOtherSources", {"StringNotEquals": {"events:source": contract.EVENT_SOURCE}}),
        ):
            statement = iam.PolicyStatement(
                sid=statement_id,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions=condition,
            )
            policy = events.CfnEventBusPolicy(
                scope,
                f"HandoffBus{statement_id}",
                event_bus_name=self.bus.event_bus_name,
                statement_id=statement_id,
                statement=statement.to_statement_json(),
            )
            # One bus policy document behind both: concurrent PutPermission calls conflict.
            if previous is not None:
                policy.node.add_dependency(previous)
            previous = policy
