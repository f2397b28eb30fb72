"""EventBridge → Step Functions handoff that runs each irreversible step exactly once.

validate (and verify the idempotency key) → claim the key → [human approval] → execute once →
record the outcome in AgentCore Memory. Every way out records an outcome for the user, and the
claim's `state` says whether the step may have started: a failure before it releases the claim
(a re-run of the same event runs the step once), a step that failed is compensated, and a step
that may still be running is retried and never compensated. `admit_only` gives the bus the
resource policy that lets only the MCP server put handoff events on it.
"""

from __future__ import annotations

from collections.abc import Sequence
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

# The claim's states (lambdas/handoff/claims.py defines the same names for the Lambdas and the
# approve command; tests/lambdas/test_claims.py checks the workflow writes only those). Only
# FAILED_BEFORE_EXECUTE may be claimed again: in it, the step never began.
CLAIMED = "claimed"
AWAITING_APPROVAL = "awaiting_approval"
EXECUTING = "executing"
DONE = "done"
COMPENSATED = "compensated"
COMPENSATION_FAILED = "compensation_failed"
OUTCOME_UNKNOWN = "outcome_unknown"
REJECTED = "rejected"
FAILED_BEFORE_EXECUTE = "failed_before_execute"

# Errors after which Execute may still complete, or never started: retried, never compensated.
# The Lambda service errors (Lambda.ClientExecutionTimeoutException among them) are retried by
# LambdaInvoke's own first Retry entry.
EXECUTE_MAY_STILL_COMPLETE = (
    "IdempotencyAlreadyInProgressError",  # an earlier call with this key is still running
    "IdempotencyInconsistentStateError",  # Powertools: retryable
    "IdempotencyPersistenceLayerError",  # the idempotency record could not be read or written
    "Lambda.Unknown",  # the function was stopped (timeout, out of memory): AWS's name for it
    "Sandbox.Timedout",  # the same, as the Lambda runtime reports a timeout today
    "Lambda.TooManyRequestsException",  # throttled: it did not start
    "States.Timeout",  # Step Functions stopped waiting; the function may not have
)
# An INPROGRESS record expires with its call (Powertools is given the Lambda context), so after
# LAMBDA_TIMEOUT a retry either finds the result or runs the step itself: 5+10+20+40+60+60 s of
# waiting covers that several times over.
EXECUTE_RETRY = {
    "interval": Duration.seconds(5),
    "backoff_rate": 2,
    "max_attempts": 6,
    "max_delay": Duration.seconds(60),
}
DYNAMODB_TRANSIENT = ["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.InternalServerErrorException"]
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"


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
        """Tell the user. No Catch: if memory stays down the execution fails here, where
        RedriveExecution resumes it (with the same client token), the claim already settled."""
        record = self._invoke(
            "record",
            state_id,
            payload=sfn.TaskInput.from_object(
                {"outcome": outcome, "execution": sfn.JsonPath.execution_id, "detail": sfn.JsonPath.object_at("$")}
            ),
            result_path="$.recorded",
        )
        record.add_retry(errors=["OutcomeNotRecorded"], interval=Duration.seconds(2), backoff_rate=2, max_attempts=4)
        return record

    @staticmethod
    def _claim_key() -> dict[str, tasks.DynamoAttributeValue]:
        return {
            "id": tasks.DynamoAttributeValue.from_string(
                sfn.JsonPath.format("claim#{}", sfn.JsonPath.string_at("$.idempotency_key"))
            )
        }

    def _set_claim(
        self, table: dynamodb.ITable, state_id: str, *, to: str, when: Sequence[str]
    ) -> tasks.DynamoUpdateItem:
        """Move this execution's claim from one of `when` to `to`. The condition keeps an
        execution from moving a claim another one holds, or one already further along."""
        expected = {f":from_{state}": tasks.DynamoAttributeValue.from_string(state) for state in when}
        update = tasks.DynamoUpdateItem(
            self,
            state_id,
            table=table,
            key=self._claim_key(),
            # The token is of no use once the claim leaves awaiting_approval: it goes.
            update_expression="SET #state = :to, #changed = :now REMOVE #token",
            condition_expression=f"#execution = :execution AND #state IN ({', '.join(expected)})",
            expression_attribute_names={
                "#state": "state",
                "#changed": "state_changed_at",
                "#execution": "execution",
                "#token": "approval_token",
            },
            expression_attribute_values={
                ":to": tasks.DynamoAttributeValue.from_string(to),
                ":now": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
                ":execution": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.execution_id),
                **expected,
            },
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(30)),
        )
        update.add_retry(errors=DYNAMODB_TRANSIENT, max_attempts=4)
        return update

    def _settle(
        self, table: dynamodb.ITable, state_id: str, *, to: str, when: Sequence[str], then: sfn.IChainable
    ) -> sfn.IChainable:
        """Record the claim's final state, then `then` (which tells the user) whether or not
        that write succeeded: the user's outcome does not wait on the bookkeeping."""
        settle = self._set_claim(table, state_id, to=to, when=when)
        settle.add_catch(then, errors=["States.ALL"], result_path="$.claim_error")
        return settle.next(then)

    def _state_machine(
        self, idempotency_table: dynamodb.ITable, *, approval_required: bool, approval_timeout: Duration
    ) -> sfn.StateMachine:
        table = idempotency_table
        # Where an execution may hold the claim before its step begins.
        before_execute = (CLAIMED, AWAITING_APPROVAL) if approval_required else (CLAIMED,)
        duplicate = sfn.Succeed(self, "Duplicate", comment="This idempotency key was already handled.")

        # Before the step: nothing ran. Release the claim, so the same event runs the step when
        # it comes back (a redrive, a redelivery), and say so.
        failed_before_execute = sfn.Fail(
            self,
            "NotRun",
            error="FailedBeforeExecute",
            cause="The step did not begin; the claim was released, so the same request may be run again.",
        )
        not_run = self._record("RecordNotRun", "not_run").next(failed_before_execute)
        release = self._settle(table, "ReleaseClaim", to=FAILED_BEFORE_EXECUTE, when=before_execute, then=not_run)

        claim = tasks.DynamoPutItem(
            self,
            "ClaimIdempotencyKey",
            table=table,
            item={
                **self._claim_key(),
                "kind": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.kind")),
                "execution": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.execution_id),
                "claimed_at": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.State.EnteredTime")),
                "state": tasks.DynamoAttributeValue.from_string(CLAIMED),
                "state_changed_at": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$$.State.EnteredTime")
                ),
            },
            # A new key, or one whose last execution ended before its step began.
            condition_expression="attribute_not_exists(id) OR #state = :rerunnable",
            expression_attribute_names={"#state": "state"},
            expression_attribute_values={":rerunnable": tasks.DynamoAttributeValue.from_string(FAILED_BEFORE_EXECUTE)},
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(30)),
        )
        claim.add_retry(errors=DYNAMODB_TRANSIENT, max_attempts=4)
        claim.add_catch(duplicate, errors=[CONDITION_FAILED], result_path="$.error")
        # The put may have landed before the error: ReleaseClaim frees it if so (its condition
        # names this execution), and is refused harmlessly if not.
        claim.add_catch(release, errors=["States.ALL"], result_path="$.error")

        # First, so that only a verified key is claimed: a forged or inconsistent input claims nothing.
        validate = self._invoke("validate", "Validate", output_path="$.Payload")
        validate.add_catch(
            self._record("RecordInvalid", "invalid").next(sfn.Fail(self, "Invalid", error="ValidationFailed")),
            errors=["ValidationFailed"],
            result_path="$.error",
        )
        # A crash (a bug, a timeout): nothing is claimed yet, nothing to release. Its own outcome:
        # the input was never checked, so the record repeats nothing from it.
        validate.add_catch(
            self._record("RecordNotChecked", "not_checked").next(failed_before_execute),
            errors=["States.ALL"],
            result_path="$.error",
        )

        # The step may have begun from here on: the claim is held whatever happens next.
        mark_executing = self._set_claim(
            table, "MarkExecuting", to=EXECUTING, when=(AWAITING_APPROVAL,) if approval_required else (CLAIMED,)
        )
        mark_executing.add_catch(duplicate, errors=[CONDITION_FAILED], result_path="$.error")
        mark_executing.add_catch(release, errors=["States.ALL"], result_path="$.error")

        execute = self._invoke(
            "execute",
            "Execute",
            result_selector={"result": sfn.JsonPath.object_at("$.Payload")},
            result_path="$.execution",
        )
        execute.add_retry(errors=list(EXECUTE_MAY_STILL_COMPLETE), **EXECUTE_RETRY)  # type: ignore[arg-type]

        # The step failed (it raised, so it has stopped): undo it.
        compensation_failed = self._record("RecordCompensationFailed", "compensation_failed").next(
            sfn.Fail(
                self,
                "CompensationFailed",
                error="CompensationFailed",
                cause="The step failed and undoing it failed: an operator must check what is left in place.",
            )
        )
        compensate = self._invoke(
            "compensate",
            "Compensate",
            payload=sfn.TaskInput.from_object({"detail": sfn.JsonPath.object_at("$")}),
            result_selector={"result": sfn.JsonPath.object_at("$.Payload")},
            result_path="$.compensation",
        )
        # Compensation is safe to repeat (steps/__init__.py).
        compensate.add_retry(errors=["States.ALL"], interval=Duration.seconds(5), backoff_rate=2, max_attempts=2)
        compensate.add_catch(
            self._settle(
                table, "MarkCompensationFailed", to=COMPENSATION_FAILED, when=(EXECUTING,), then=compensation_failed
            ),
            errors=["States.ALL"],
            result_path="$.compensation",
        )
        record_failure = self._record("RecordFailure", "failed").next(sfn.Fail(self, "StepFailed", error="StepFailed"))
        compensate.next(self._settle(table, "MarkCompensated", to=COMPENSATED, when=(EXECUTING,), then=record_failure))
        execute.add_catch(compensate, errors=["StepFailed"], result_path="$.error")

        # Retries ran out and the step may still complete: compensating could undo nothing, or
        # undo what then completes. Say the outcome is unknown, hold the claim, ask an operator.
        unknown = self._record("RecordUnknown", "unknown").next(
            sfn.Fail(
                self,
                "OutcomeUnknown",
                error="OutcomeUnknown",
                cause="The step did not report back and may still complete: an operator must check it.",
            )
        )
        execute.add_catch(
            self._settle(table, "MarkOutcomeUnknown", to=OUTCOME_UNKNOWN, when=(EXECUTING,), then=unknown),
            errors=["States.ALL"],
            result_path="$.error",
        )
        done = self._record("RecordOutcome", "completed").next(sfn.Succeed(self, "Done"))
        execute.next(self._settle(table, "MarkDone", to=DONE, when=(EXECUTING,), then=done))

        chain = validate.next(claim)
        if approval_required:
            # The approver answers with `python -m handoff.approve` (SendTaskSuccess/Failure).
            approval = self._invoke(
                "approval",
                "AwaitApproval",
                integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
                payload=sfn.TaskInput.from_object(
                    {
                        "task_token": sfn.JsonPath.task_token,
                        "execution": sfn.JsonPath.execution_id,
                        "detail": sfn.JsonPath.object_at("$"),
                    }
                ),
                heartbeat_timeout=sfn.Timeout.duration(approval_timeout),
                task_timeout=sfn.Timeout.duration(approval_timeout.plus(Duration.minutes(5))),
                result_path="$.approval",
            )
            # A decision (or none in time): nothing ran, and the claim keeps the answer.
            rejected = self._record("RecordRejected", "rejected").next(sfn.Succeed(self, "Rejected"))
            approval.add_catch(
                self._settle(table, "MarkRejected", to=REJECTED, when=before_execute, then=rejected),
                errors=["Rejected", "States.Timeout", "States.HeartbeatTimeout"],
                result_path="$.error",
            )
            # The user could not be asked (the function failed, timed out, was throttled).
            approval.add_catch(release, errors=["States.ALL"], result_path="$.error")
            chain = chain.next(approval)
        chain = chain.next(mark_executing).next(execute)

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
        # The claim's put and updates go through DynamoDB to a table under the kit key.
        grant_table_items(machine, table, ("PutItem", "UpdateItem"))
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
