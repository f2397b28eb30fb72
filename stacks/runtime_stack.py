"""The two AgentCore Runtimes (agent and MCP server), their images and least-privilege IAM."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Duration
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import INFERENCE_PROFILE_PREFIXES, EnvironmentConfig, JwtAuth
from stacks.constructs.memory import AgentMemory
from stacks.constructs.runtime import KitRuntime, invoke_url
from stacks.constructs.task_table import TaskTable
from stacks.kit_stack import KitStack
from stacks.nag import acknowledge
from stacks.retention import retention

MAX_IN_CALL_TASK_WAIT_SECONDS = 55 * 60


def model_arns(model_ids: list[str]) -> list[str]:
    """ARNs bedrock:InvokeModel* needs for each configured id.

    An inference profile routes to the same foundation model in several regions,
    so its profile ARN and the model's ARN in any region are both required.
    """
    arns: list[str] = []
    for model_id in model_ids:
        prefix = next((p for p in INFERENCE_PROFILE_PREFIXES if model_id.startswith(p)), None)
        if prefix is None:
            arns.append(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model_id}")
            continue
        arns.append(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/{model_id}")
        arns.append(f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{model_id.removeprefix(prefix)}")
    return arns


class RuntimeStack(KitStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        memory: AgentMemory,
        task_table: TaskTable,
        encryption_key: kms.IKey,
        handoff_bus: events.IEventBus,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, config=config, purpose="agent and MCP server runtimes", **kwargs)
        authorizer = _authorizer(config)
        network = _network(self, config)
        removal = self.removal_policy
        log_retention = retention(config.log_retention_days)
        common: dict[str, Any] = dict(
            authorizer=authorizer,
            network=network,
            log_retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=removal,
            image_build=config.images.build,
        )

        self.mcp_server = KitRuntime(
            self,
            "McpServer",
            image="mcp_server",
            runtime_name=config.mcp_server.name,
            description="MCP server running long tool calls as durable tasks",
            protocol=agentcore.ProtocolType.MCP,
            idle_timeout=Duration.seconds(config.mcp_server.idle_timeout_seconds),
            max_lifetime=Duration.seconds(config.mcp_server.max_lifetime_seconds),
            request_headers=config.request_headers,
            environment={
                "AWS_REGION": Aws.REGION,
                "MEMORY_ID": memory.memory.memory_id,
                "TASK_STORE": "dynamodb",
                "TASK_TABLE_NAME": task_table.table.table_name,
                "MCP_SESSION_IDLE_TIMEOUT_SECONDS": str(config.mcp_server.idle_timeout_seconds),
                "HANDOFF_BUS_NAME": handoff_bus.event_bus_name,
                # The dimension of the task engine's embedded metrics (see Observability).
                "KIT_ENVIRONMENT": config.name,
            },
            **common,
        )
        mcp_runtime = self.mcp_server.runtime

        self.agent = KitRuntime(
            self,
            "Agent",
            image="agent",
            runtime_name=config.agent.name,
            description="Strands agent that starts long work and finds its results later",
            protocol=agentcore.ProtocolType.HTTP,
            idle_timeout=Duration.seconds(config.agent.idle_timeout_seconds),
            max_lifetime=Duration.seconds(config.agent.max_lifetime_seconds),
            # With JWT inbound auth the agent forwards the caller's token to the MCP server.
            request_headers=["Authorization"] if isinstance(config.auth, JwtAuth) else (),
            environment={
                "AWS_REGION": Aws.REGION,
                "MEMORY_ID": memory.memory.memory_id,
                "MODEL_ID": config.model_ids[0],
                "MCP_RUNTIME_ARN": mcp_runtime.agent_runtime_arn,
                "MCP_RUNTIME_URL": invoke_url(Aws.REGION, mcp_runtime.agent_runtime_arn),
                "MCP_AUTH": config.auth.mode,
                # A tool call that waits on a task must end inside the 60-minute streaming
                # limit; longer work is started with start_* and found later in memory.
                "MCP_TASK_POLL_TIMEOUT_SECONDS": str(
                    min(MAX_IN_CALL_TASK_WAIT_SECONDS, config.mcp_server.max_lifetime_seconds)
                ),
            },
            **common,
        )
        agent_runtime = self.agent.runtime

        # Agent: invoke only the MCP runtime; read and write the memory; configured models only.
        agent_policy = agent_runtime.role.node.find_child("DefaultPolicy")
        if not isinstance(config.auth, JwtAuth):
            mcp_runtime.grant_invoke_runtime(agent_runtime)
            mcp_logical_id = self.resolve(self.get_logical_id(mcp_runtime.node.find_child("Resource")))
            acknowledge(
                agent_policy,
                f"AwsSolutions-IAM5[Resource::<{mcp_logical_id}.AgentRuntimeArn>/*]",
                "InvokeAgentRuntime on the MCP runtime and its endpoints only (ARN/*).",
            )
        memory.grant_read_events(agent_runtime)
        memory.grant_write_events(agent_runtime)
        agent_runtime.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeConfiguredModels",
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=model_arns(config.model_ids),
            )
        )
        for arn in model_arns(config.model_ids):
            if ":bedrock:*::" in arn:
                acknowledge(
                    agent_policy,
                    "AwsSolutions-IAM5[Resource::" + arn.replace(Aws.PARTITION, "<AWS::Partition>") + "]",
                    "A cross-region inference profile may route to this one model in any "
                    "region of its geography; the model id is fixed.",
                )
        # MCP server: write task results to memory; read/write its task table.
        memory.grant_write_events(mcp_runtime)
        task_table.grant_task_access(mcp_runtime)
        handoff_bus.grant_put_events_to(mcp_runtime)

        if config.images.build == "codebuild":
            from stacks.constructs.image_build import acknowledge_sdk_call_function

            acknowledge_sdk_call_function(self)
        for name, runtime in (("Agent", self.agent), ("McpServer", self.mcp_server)):
            CfnOutput(self, f"{name}RuntimeArn", value=runtime.runtime.agent_runtime_arn)
            CfnOutput(self, f"{name}InvokeUrl", value=invoke_url(Aws.REGION, runtime.runtime.agent_runtime_arn))


def _authorizer(config: EnvironmentConfig) -> agentcore.RuntimeAuthorizerConfiguration:
    if isinstance(config.auth, JwtAuth):
        return agentcore.RuntimeAuthorizerConfiguration.using_jwt(
            config.auth.discovery_url,
            config.auth.allowed_clients or None,
            config.auth.allowed_audience or None,
        )
    return agentcore.RuntimeAuthorizerConfiguration.using_iam()


def _network(scope: Construct, config: EnvironmentConfig) -> agentcore.RuntimeNetworkConfiguration:
    if config.network.mode == "public":
        return agentcore.RuntimeNetworkConfiguration.using_public_network()
    # Attributes, not a lookup: synth never calls AWS.
    vpc = ec2.Vpc.from_vpc_attributes(
        scope,
        "Vpc",
        vpc_id=config.network.vpc_id or "",
        availability_zones=config.network.availability_zones,
        private_subnet_ids=config.network.subnet_ids,
    )
    return agentcore.RuntimeNetworkConfiguration.using_vpc(
        scope, vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets)
    )
