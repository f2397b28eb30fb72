"""The MCP server runtime (runtime_images/mcp_server): durable tasks in the task table, results
in memory (large ones in the results bucket), handoff requests on the bus."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_events as events
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from kit_contracts.context import IDENTITY_JWT, IDENTITY_RUNTIME_USER
from stacks.config import IamAuth, JwtAuth, McpServerSettings, QuotaSettings
from stacks.constructs.grants import grant_secret_value
from stacks.constructs.memory import AgentMemory
from stacks.constructs.results_bucket import ResultsBucket
from stacks.constructs.runtime import KitRuntime, RuntimeOptions
from stacks.constructs.task_table import TaskTable
from stacks.nag import acknowledge


class McpServerRuntime(KitRuntime):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: McpServerSettings,
        request_headers: Sequence[str],
        auth: IamAuth | JwtAuth,
        quotas: QuotaSettings,
        env_name: str,
        memory: AgentMemory,
        task_table: TaskTable,
        results: ResultsBucket,
        handoff_bus: events.IEventBus,
        options: RuntimeOptions,
    ) -> None:
        # The key that seals multi-round-trip requestState: one for every session's server, since a
        # client's next round may reach another microVM. Read on the first round that needs it.
        # The L1: the L2 Secret also writes a statement into the key's policy, in the stack that owns
        # the key; IAM delegation already lets this runtime's role use it (grant_secret_value).
        request_state_key = secretsmanager.CfnSecret(
            scope,
            f"{construct_id}RequestStateKey",
            description="Seals the MCP server's multi-round-trip requestState (shared by its sessions)",
            kms_key_id=options.encryption_key.key_arn,
            generate_secret_string=secretsmanager.CfnSecret.GenerateSecretStringProperty(
                password_length=64, exclude_punctuation=True
            ),
        )
        request_state_key.apply_removal_policy(options.removal_policy)
        acknowledge(
            request_state_key,
            "AwsSolutions-SMG4",
            "No scheduled rotation: rotating invalidates the questions in flight (their state lives at most 10 "
            "minutes); replace the secret to rotate (docs/operating.md).",
        )
        super().__init__(
            scope,
            construct_id,
            image="mcp_server",
            settings=settings,
            description="MCP server running long tool calls as durable tasks",
            protocol=agentcore.ProtocolType.MCP,
            request_headers=request_headers,
            environment={
                "AWS_REGION": Aws.REGION,
                "MEMORY_ID": memory.memory.memory_id,
                "TASK_STORE": "dynamodb",
                "TASK_TABLE_NAME": task_table.table.table_name,
                "MCP_SESSION_IDLE_TIMEOUT_SECONDS": str(settings.idle_timeout_seconds),
                # The server refuses work that cannot finish inside its session and hands
                # resumable work over before the session ends.
                "RUNTIME_MAX_LIFETIME_SECONDS": str(settings.max_lifetime_seconds),
                # Results too large for a task item; the agent fetches them through MCP tools.
                "RESULTS_BUCKET": results.bucket.bucket_name,
                "HANDOFF_BUS_NAME": handoff_bus.event_bus_name,
                # The dimension of the task engine's embedded metrics (see Observability).
                "KIT_ENVIRONMENT": env_name,
                **_caller_identity(auth),
                "QUOTA_RUNNING_TASKS": str(quotas.running_tasks),
                "QUOTA_TASKS_PER_MINUTE": str(quotas.tasks_per_minute),
                "QUOTA_RESULT_BYTES_PER_DAY": str(quotas.result_bytes_per_day),
                "REQUEST_STATE_SECRET_ARN": request_state_key.ref,
            },
            options=options,
        )
        # How long a task may run here; the agent bounds its in-call waits by it.
        self.max_lifetime_seconds = settings.max_lifetime_seconds
        memory.grant_write_events(self.runtime)
        task_table.grant_task_access(self.runtime)
        results.grant_results(self.runtime)
        acknowledge(
            self.runtime.role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{results.results_resource_for_nag(self)}]",
            "s3:PutObject and s3:GetObject on the results bucket's results/ prefix only: one object "
            "per large task result, named by the task.",
        )
        handoff_bus.grant_put_events_to(self.runtime)
        self.request_state_key = request_state_key
        grant_secret_value(self.runtime, request_state_key.ref, options.encryption_key)


def _caller_identity(auth: IamAuth | JwtAuth) -> dict[str, str]:
    """Where the server takes the actor from: what the platform authenticated, never a header a
    caller writes. JWT: a claim of the token the runtime's authorizer validated (allowlisted as
    Authorization). IAM: the runtime user id, which only the agent's role may set."""
    if isinstance(auth, JwtAuth):
        return {"CALLER_IDENTITY": IDENTITY_JWT, "ACTOR_ID_CLAIM": auth.actor_id_claim}
    return {"CALLER_IDENTITY": IDENTITY_RUNTIME_USER}
