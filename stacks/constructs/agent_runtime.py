"""The Strands agent runtime (runtime_images/agent): memory, the configured models, and the MCP
runtime as its only tool server."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import INFERENCE_PROFILE_PREFIXES, AgentSettings, IamAuth, JwtAuth
from stacks.constructs.mcp_server_runtime import McpServerRuntime
from stacks.constructs.memory import AgentMemory
from stacks.constructs.runtime import KitRuntime, RuntimeOptions
from stacks.nag import acknowledge

MAX_IN_CALL_TASK_WAIT_SECONDS = 55 * 60


def model_arns(model_ids: list[str], regions: Mapping[str, tuple[str, ...] | None]) -> list[str]:
    """ARNs bedrock:InvokeModel* needs for each configured id.

    An inference profile routes to its foundation model in the Regions of its geography
    (`regions[model_id]`; None: any Region, a global profile), so the profile's ARN and the
    model's ARN in the stack's own Region and in each of those are required.
    """
    arns: list[str] = []
    for model_id in model_ids:
        prefix = next((p for p in INFERENCE_PROFILE_PREFIXES if model_id.startswith(p)), None)
        if prefix is None:
            arns.append(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model_id}")
            continue
        model = model_id.removeprefix(prefix)
        arns.append(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/{model_id}")
        routed = regions.get(model_id)
        for region in (Aws.REGION, *routed) if routed is not None else ("*",):
            arns.append(f"arn:{Aws.PARTITION}:bedrock:{region}::foundation-model/{model}")
    return arns


class AgentRuntime(KitRuntime):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AgentSettings,
        auth: IamAuth | JwtAuth,
        model_ids: list[str],
        model_regions: Mapping[str, tuple[str, ...] | None],
        memory: AgentMemory,
        mcp_server: McpServerRuntime,
        options: RuntimeOptions,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            image="agent",
            settings=settings,
            description="Strands agent that starts long work and finds its results later",
            protocol=agentcore.ProtocolType.HTTP,
            # With JWT inbound auth the agent forwards the caller's token to the MCP server.
            request_headers=["Authorization"] if isinstance(auth, JwtAuth) else (),
            environment={
                "AWS_REGION": Aws.REGION,
                "MEMORY_ID": memory.memory.memory_id,
                "MODEL_ID": model_ids[0],
                # Through the MCP runtime's named endpoint: the agent calls the version that
                # endpoint serves, never DEFAULT (stacks/constructs/release.py).
                "MCP_RUNTIME_URL": mcp_server.invoke_url(Aws.REGION),
                "MCP_AUTH": auth.mode,
                # A tool call that waits on a task must end inside the 60-minute streaming
                # limit; longer work is started with start_* and found later in memory.
                "MCP_TASK_POLL_TIMEOUT_SECONDS": str(
                    min(MAX_IN_CALL_TASK_WAIT_SECONDS, mcp_server.max_lifetime_seconds)
                ),
                "RESULTS_CONTEXT_CHARS": str(settings.results_context_chars),
                # Long-term records (the memory's strategies) given to the model, within their own budget.
                **(
                    {"LONG_TERM_NAMESPACES": ",".join(memory.long_term_namespaces)}
                    if memory.long_term_namespaces
                    else {}
                ),
                "LONG_TERM_CONTEXT_CHARS": str(settings.long_term_context_chars),
                "MAX_REQUEST_BYTES": str(settings.max_request_bytes),
                # The claim the agent and the MCP server both read the actor from.
                **({"ACTOR_ID_CLAIM": auth.actor_id_claim} if isinstance(auth, JwtAuth) else {}),
            },
            options=options,
        )
        policy = self.runtime.role.node.find_child("DefaultPolicy")
        if not isinstance(auth, JwtAuth):
            # InvokeAgentRuntime and InvokeAgentRuntimeForUser: the agent names the caller as the
            # runtime user id, and the MCP server takes the actor from it. No other principal of
            # the kit may set it, so no other caller can speak for a user.
            mcp_server.runtime.grant_invoke(self.runtime)
            stack = Stack.of(self)
            mcp_resource = mcp_server.runtime.node.find_child("Resource")
            mcp_logical_id = stack.resolve(stack.get_logical_id(mcp_resource))
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{mcp_logical_id}.AgentRuntimeArn>/*]",
                "InvokeAgentRuntime(ForUser) on the MCP runtime and its endpoints only (ARN/*).",
            )
        memory.grant_read_events(self.runtime)
        memory.grant_write_events(self.runtime)
        self.runtime.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeConfiguredModels",
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=model_arns(model_ids, model_regions),
            )
        )
        for arn in model_arns(model_ids, model_regions):
            if ":bedrock:*::" in arn:
                acknowledge(
                    policy,
                    "AwsSolutions-IAM5[Resource::" + arn.replace(Aws.PARTITION, "<AWS::Partition>") + "]",
                    "A global inference profile routes to this one model in any commercial "
                    "Region (set model_regions to pin them); the model id is fixed.",
                )
