"""The two AgentCore Runtimes (the MCP server, and the agent that calls it) and the scheduled
sweeper that recovers the MCP server's lost work while no session is alive."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig, JwtAuth
from stacks.constructs.agent_runtime import AgentRuntime
from stacks.constructs.gateway import TARGET_NAME, McpGateway
from stacks.constructs.mcp_server_runtime import McpServerRuntime
from stacks.constructs.memory import AgentMemory
from stacks.constructs.results_bucket import ResultsBucket
from stacks.constructs.runtime import RuntimeOptions
from stacks.constructs.sweeper import Sweeper
from stacks.constructs.task_table import TaskTable
from stacks.constructs.tracing import TraceDeliveryPolicy
from stacks.kit_stack import KitStack
from stacks.retention import retention


class RuntimeStack(KitStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        memory: AgentMemory,
        task_table: TaskTable,
        results: ResultsBucket,
        encryption_key: kms.IKey,
        handoff_bus: events.IEventBus,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, config=config, purpose="agent and MCP server runtimes", **kwargs)
        options = RuntimeOptions(
            authorizer=_authorizer(config),
            network=_network(self, config),
            log_retention=retention(config.log_retention_days),
            encryption_key=encryption_key,
            removal_policy=self.removal_policy,
            log_group_prefix=config.log_group_prefix,
            release=config.release,
            image_build=config.images.build,
            tracing=config.observability.tracing,
        )
        self.mcp_server = McpServerRuntime(
            self,
            "McpServer",
            settings=config.mcp_server,
            request_headers=config.request_headers,
            auth=config.auth,
            quotas=config.quotas,
            env_name=config.name,
            memory=memory,
            task_table=task_table,
            results=results,
            handoff_bus=handoff_bus,
            options=options,
        )
        self.agent = AgentRuntime(
            self,
            "Agent",
            settings=config.agent,
            auth=config.auth,
            model_ids=config.model_ids,
            model_regions={model_id: config.model_regions_for(model_id) for model_id in config.model_ids},
            memory=memory,
            mcp_server=self.mcp_server,
            options=options,
        )
        self.sweeper = Sweeper(
            self,
            "Sweeper",
            env_name=config.name,
            schedule_minutes=config.sweeper.schedule_minutes,
            task_table=task_table,
            memory=memory,
            # With JWT inbound auth the MCP runtime accepts no SigV4 call: nothing to wake it with.
            wake_runtime=None if isinstance(config.auth, JwtAuth) else self.mcp_server.runtime,
            wake_endpoint=config.release.endpoint,
            encryption_key=encryption_key,
            log_group_prefix=config.log_group_prefix,
            log_retention=options.log_retention,
            removal_policy=self.removal_policy,
        )

        if config.images.build == "codebuild":
            from stacks.constructs.image_build import acknowledge_sdk_call_function

            # One provider function serves both images' build triggers, so the stack owns it.
            acknowledge_sdk_call_function(self)
        self.trace_delivery_policy: TraceDeliveryPolicy | None = None
        if config.observability.tracing and config.observability.trace_delivery_policy == "create":
            self.trace_delivery_policy = TraceDeliveryPolicy(
                self, "TraceDeliveryPolicy", removal_policy=self.removal_policy
            )
            for runtime in (self.agent, self.mcp_server):
                # The L2 orders its own policy before these; the kit's one must come first too.
                for child in ("TracesDeliveryDest", "TracesDelivery"):
                    runtime.runtime.node.find_child(child).node.add_dependency(self.trace_delivery_policy)

        self.gateway: McpGateway | None = None
        if config.gateway.enabled:
            assert isinstance(config.auth, JwtAuth)  # the configuration refuses anything else
            self.gateway = McpGateway(
                self,
                "Gateway",
                env_name=config.name,
                auth=config.auth,
                runtime_arn=self.mcp_server.runtime.agent_runtime_arn,
                endpoint=self.mcp_server.endpoints.name,
            )
            self.gateway.target.node.add_dependency(self.mcp_server.endpoints.endpoint)
            CfnOutput(self, "McpGatewayUrl", value=self.gateway.url)
            CfnOutput(self, "McpGatewayTargetName", value=TARGET_NAME)

        for name, runtime in (("Agent", self.agent), ("McpServer", self.mcp_server)):
            CfnOutput(self, f"{name}RuntimeArn", value=runtime.runtime.agent_runtime_arn)
            CfnOutput(self, f"{name}InvokeUrl", value=runtime.invoke_url(Aws.REGION))
            CfnOutput(self, f"{name}EndpointName", value=runtime.endpoints.name)


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
    # Given groups are used as they are (mutable=False: the kit adds no rule to a team's group);
    # none given: the L2 creates one, shared by both runtimes, open outbound and closed inbound.
    security_groups = [
        ec2.SecurityGroup.from_security_group_id(scope, f"SecurityGroup{index}", group_id, mutable=False)
        for index, group_id in enumerate(config.network.security_group_ids)
    ]
    return agentcore.RuntimeNetworkConfiguration.using_vpc(
        scope,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets),
        security_groups=security_groups or None,
    )
