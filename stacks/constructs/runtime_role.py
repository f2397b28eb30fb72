"""A runtime's execution role: the L2 Runtime's platform statements, scoped to this runtime.

The L2 `Runtime` adds its platform statements to whatever execution role it is given (logs,
X-Ray, metrics, workload identity; the image artifact adds ECR pull), with the log and
workload-identity resources open to every runtime in the account: `/aws/bedrock-agentcore/
runtimes/*` and `workload-identity/*`. Two environments sharing an account could then write each
other's logs and obtain each other's workload tokens. This role rewrites those three statements,
by their L2 statement ids, to this runtime's own names: a runtime's id, its log groups and its
workload identity all start with the runtime name followed by '-'. Everything else it is
granted passes through unchanged.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

# Statement ids the L2 Runtime (aws-cdk-lib 2.275, Runtime.addExecutionRolePermissions) uses.
L2_LOG_GROUP_SID = "LogGroupAccess"
L2_LOG_STREAM_SID = "LogStreamAccess"
L2_WORKLOAD_IDENTITY_SID = "GetAgentAccessToken"
RUNTIME_LOG_GROUP_PREFIX = "/aws/bedrock-agentcore/runtimes/"


def runtime_log_group_pattern(runtime_name: str) -> str:
    """The name pattern of every log group the platform writes for this runtime."""
    return f"{RUNTIME_LOG_GROUP_PREFIX}{runtime_name}-*"


def agentcore_service_principal(stack: Stack, resource: str, name: str) -> iam.ServicePrincipal:
    """AgentCore, acting for this account's `resource` named "<name>-<suffix>" only (the confused-deputy guard)."""
    return iam.ServicePrincipal(
        "bedrock-agentcore.amazonaws.com",
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="bedrock-agentcore",
                    resource=resource,
                    resource_name=f"{name}-*",
                    arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                )
            },
        },
    )


class RuntimeExecutionRole(iam.Role):
    def __init__(self, scope: Construct, construct_id: str, *, runtime_name: str) -> None:
        stack = Stack.of(scope)
        super().__init__(
            scope,
            construct_id,
            # As the L2 builds it, with the runtime ARN narrowed to "<name>-*" (not "<name>*",
            # which also matches a runtime named "<name>2").
            assumed_by=agentcore_service_principal(stack, "runtime", runtime_name),
            description=f"Execution role of the {runtime_name} AgentCore Runtime",
            max_session_duration=Duration.hours(8),
        )
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=runtime_log_group_pattern(runtime_name),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        directory = stack.format_arn(
            service="bedrock-agentcore",
            resource="workload-identity-directory",
            resource_name="default",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self._scoped = {
            L2_LOG_GROUP_SID: [log_groups],
            L2_LOG_STREAM_SID: [f"{log_groups}:log-stream:*"],
            # AgentCore names the workload identity it creates for a runtime after the runtime.
            L2_WORKLOAD_IDENTITY_SID: [directory, f"{directory}/workload-identity/{runtime_name}-*"],
        }
        self.scoped_statements: set[str] = set()

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        resources = self._scoped.get(statement.sid or "")
        if resources is not None:
            self.scoped_statements.add(str(statement.sid))
            statement = iam.PolicyStatement(
                sid=statement.sid,
                actions=statement.actions,
                resources=resources,
                conditions=statement.conditions or None,
            )
        return super().add_to_principal_policy(statement)

    def check_scoped(self) -> None:
        """Fail synth if the L2 stopped adding a statement under the id this role scopes."""
        missing = sorted(set(self._scoped) - self.scoped_statements)
        if missing:
            raise RuntimeError(
                f"{self.node.path}: the L2 Runtime no longer adds statements {missing}; "
                "update stacks/constructs/runtime_role.py so its platform grants stay scoped"
            )
