"""An AgentCore Gateway in front of the MCP runtime, for MCP clients other than the agent.

Identity is the point. The MCP server takes the actor from the caller's JWT (CALLER_IDENTITY=jwt),
so the gateway must hand the runtime the caller's own token. An MCP-server target cannot: AWS's
outbound-authorization matrix gives it no token passthrough, only credentials of the gateway's
own (its role, an API key, OAuth client credentials, an authorization code or a token exchange),
and with those every caller would reach the server as one actor. An AgentCore Runtime target
(HTTP, on a gateway without a protocol type) takes JWT_PASSTHROUGH: the gateway validates the
token against the environment's identity provider, then forwards it unchanged, and the MCP
runtime's own JWT authorizer validates it again. The L2 `Gateway` always sets the MCP protocol
type and its credential providers stop at API key, OAuth and the gateway role, so both
resources are CloudFormation's own (L1).
"""

from __future__ import annotations

import re

from aws_cdk import Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import JwtAuth
from stacks.constructs.runtime_role import agentcore_service_principal

# CloudFormation's AWS::BedrockAgentCore::GatewayTarget Name: letters, digits, single hyphens.
TARGET_NAME = "mcp-server"
JWT_PASSTHROUGH = "JWT_PASSTHROUGH"


def gateway_name(env_name: str) -> str:
    """`([0-9a-zA-Z][-]?){1,48}` (CloudFormation's Name): environment names may hold '--'."""
    return re.sub("-{2,}", "-", f"agent-kit-{env_name}-mcp")[:48]


class McpGateway(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        auth: JwtAuth,
        runtime_arn: str,
        endpoint: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = gateway_name(env_name)
        # CloudFormation requires a role. With JWT passthrough the gateway signs nothing and fetches
        # no credential, so the role holds no permission at all.
        self.role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=agentcore_service_principal(stack, "gateway", name),
            description=f"Service role of the {name} AgentCore Gateway (no permissions: JWT passthrough)",
        )
        self.gateway = agentcore.CfnGateway(
            self,
            "Gateway",
            name=name,
            description="MCP clients reach the MCP runtime with their own token",
            role_arn=self.role.role_arn,
            # No protocol type: AgentCore Runtime targets attach only to gateways without one.
            authorizer_type="CUSTOM_JWT",
            authorizer_configuration=agentcore.CfnGateway.AuthorizerConfigurationProperty(
                custom_jwt_authorizer=agentcore.CfnGateway.CustomJWTAuthorizerConfigurationProperty(
                    discovery_url=auth.discovery_url,
                    allowed_clients=auth.allowed_clients or None,
                    allowed_audience=auth.allowed_audience or None,
                )
            ),
        )
        self.target = agentcore.CfnGatewayTarget(
            self,
            "McpServerTarget",
            name=TARGET_NAME,
            description="The MCP runtime's named endpoint, reached with the caller's token",
            gateway_identifier=self.gateway.attr_gateway_identifier,
            target_configuration=agentcore.CfnGatewayTarget.TargetConfigurationProperty(
                http=agentcore.CfnGatewayTarget.HttpTargetConfigurationProperty(
                    agentcore_runtime=agentcore.CfnGatewayTarget.RuntimeTargetConfigurationProperty(
                        arn=runtime_arn, qualifier=endpoint
                    )
                )
            ),
            credential_provider_configurations=[
                agentcore.CfnGatewayTarget.CredentialProviderConfigurationProperty(
                    credential_provider_type=JWT_PASSTHROUGH
                )
            ],
        )
        self.url = self.gateway.attr_gateway_url
